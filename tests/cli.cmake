# End-to-end tests of the mediagrep binary.
mg_test(NAME test_cli SOURCES test_cli.c)
add_dependencies(test_cli mediagrep)
set_tests_properties(test_cli PROPERTIES FIXTURES_REQUIRED test_models)
