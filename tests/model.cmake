# Model, backend and encoder tests. The tiny models are regenerated
# deterministically by scripts/gen_tiny_models.py (numpy only) as a fixture;
# their goldens are committed under tests/golden/models/.
add_test(NAME gen_test_models
  COMMAND /usr/bin/python3 ${CMAKE_SOURCE_DIR}/scripts/gen_tiny_models.py --out ${MG_TEST_MODELS} --check)
set_tests_properties(gen_test_models PROPERTIES FIXTURES_SETUP test_models LABELS "unit" TIMEOUT 300)

mg_parser_test(NAME test_safetensors SOURCES test_safetensors.c)
mg_parser_test(NAME test_config SOURCES test_config.c)
mg_test(NAME test_backend SOURCES test_backend.c)
if(MG_HAVE_CUDA)
  # CUDA backend parity; exits 77 (skipped) without a usable GPU
  mg_test(NAME test_cuda SOURCES test_cuda.c)
  set_tests_properties(test_cuda PROPERTIES SKIP_RETURN_CODE 77 FIXTURES_REQUIRED test_models)
endif()
mg_test(NAME test_model SOURCES test_model.c)
set_tests_properties(test_model PROPERTIES FIXTURES_REQUIRED test_models)
