# HTTP server (src/server, `mediagrep serve`): API tests against a server
# started in-process on an ephemeral loopback port, over a store of
# controlled vectors with real generated media (PNG, and an H.264 clip when
# the ffmpeg CLI is present); malformed requests (bad JSON, garbage, huge
# headers, truncated multipart, path tricks, oversized uploads); the token.
mg_test(NAME test_serve SOURCES test_serve.c LIBS libmediagrep PkgConfig::CURL LABELS server)
add_dependencies(test_serve mediagrep)
set_tests_properties(test_serve PROPERTIES FIXTURES_REQUIRED test_models TIMEOUT 60)
