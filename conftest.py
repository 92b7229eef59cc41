# Loads socklab's pytest plugin (options such as --impl and --valgrind, the `lab` fixture).
pytest_plugins = ["harness.pytest_plugin"]
