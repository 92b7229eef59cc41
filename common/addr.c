/* addr.c - socket addresses as text. */
#include "socklab.h"

#include <netdb.h>
#include <stdio.h>

const char *addr_to_text(const struct sockaddr *addr, socklen_t len, char text[ADDR_TEXT_LEN])
{
    char host[INET6_ADDRSTRLEN];
    char port[sizeof "65535"];
    /* NUMERICHOST/NUMERICSERV: digits only, never a slow reverse lookup in DNS. */
    if (getnameinfo(addr, len, host, sizeof host, port, sizeof port,
                    NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
        snprintf(text, ADDR_TEXT_LEN, "(unknown address)");
        return text;
    }
    /* An IPv6 address has colons of its own: brackets keep the port apart, as in URLs. */
    snprintf(text, ADDR_TEXT_LEN, addr->sa_family == AF_INET6 ? "[%s]:%s" : "%s:%s", host, port);
    return text;
}
