# HTTP server (src/server, `mediagrep serve`): API tests against a server
# started in-process on an ephemeral loopback port, over a store of
# controlled vectors with real generated media (PNG, and an H.264 clip when
# the ffmpeg CLI is present); malformed requests (bad JSON, garbage, huge
# headers, truncated multipart, path tricks, oversized uploads); the token.
mg_test(NAME test_serve SOURCES test_serve.c vecfixture.c LIBS libmediagrep PkgConfig::CURL LABELS server)
add_dependencies(test_serve mediagrep)
set_tests_properties(test_serve PROPERTIES FIXTURES_REQUIRED test_models TIMEOUT 60)

# The web page end to end in headless Chromium (Selenium + chromedriver):
# text search with thumbnails, search by an uploaded photo, a video moment
# that plays from its timestamp; screenshot in <build>/e2e-web.png. Prints
# SKIP when chromium, chromium-driver or python3-selenium is missing.
add_test(NAME e2e_web COMMAND /usr/bin/python3 ${CMAKE_SOURCE_DIR}/tests/e2e_web.py ${CMAKE_BINARY_DIR})
set_tests_properties(e2e_web PROPERTIES FIXTURES_REQUIRED test_models LABELS "e2e;server" TIMEOUT 300)
