# The public C API and the Python package (src/api, include/mediagrep.h,
# python/). test_api: the C API linked against libmediagrep.so.1 alone.
# python_package: pytest (Debian's python3-pytest) over tests/python: the
# package's search, embeddings, vectors and classify equal the CLI's, its
# errors, threads, the exported symbols, pip install, and the README's
# Python and FAISS examples run as written.
add_executable(test_api test_api.c)
target_link_libraries(test_api PRIVATE mg_testlib mediagrep_shared PkgConfig::JSONC Threads::Threads m)
target_include_directories(test_api PRIVATE ${CMAKE_SOURCE_DIR}/include)
target_compile_definitions(test_api PRIVATE MG_TEST_MODELS="${MG_TEST_MODELS}" MG_BUILD_DIR="${CMAKE_BINARY_DIR}")
set_target_properties(test_api PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
add_dependencies(test_api mediagrep)
add_test(NAME test_api COMMAND test_api)
set_tests_properties(test_api PROPERTIES LABELS "unit;api" TIMEOUT 600 SKIP_RETURN_CODE 77
  FIXTURES_REQUIRED test_models)

if(DEFINED ENV{MG_PYTHON})
  set(_mg_pkg_py $ENV{MG_PYTHON})
else()
  set(_mg_pkg_py /usr/bin/python3)
endif()
add_test(NAME python_package
  COMMAND ${_mg_pkg_py} -m pytest -q -p no:cacheprovider ${CMAKE_SOURCE_DIR}/tests/python
  WORKING_DIRECTORY ${CMAKE_BINARY_DIR})
set_tests_properties(python_package PROPERTIES LABELS "api;python" TIMEOUT 900
  ENVIRONMENT "MG_BUILD_DIR=${CMAKE_BINARY_DIR};MG_SOURCE_DIR=${CMAKE_SOURCE_DIR}")
add_dependencies(test_api mediagrep_shared)
