# Distributed index transport (src/dist): launcher detection from the
# environment and the binary's freedom from libmpi (test_dist), and the MPI
# module itself under `mpirun -n 3` of tests/dist_peer.c (test_dist_mpi,
# skipped when this build has no MPI module or mpirun is missing).
mg_test(NAME test_dist SOURCES test_dist.c LIBS mg_dist mg_core ARGS env LABELS dist)
if(MG_HAVE_MPI)
  add_executable(dist_peer dist_peer.c)
  target_link_libraries(dist_peer PRIVATE mg_dist mg_core)
  set_target_properties(dist_peer PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
  add_dependencies(dist_peer mediagrep_mpi)
  add_dependencies(test_dist dist_peer)
  target_compile_definitions(test_dist PRIVATE MG_DIST_PEER="$<TARGET_FILE:dist_peer>")
endif()
add_test(NAME test_dist_mpi COMMAND test_dist mpi)
set_tests_properties(test_dist_mpi PROPERTIES LABELS "unit;dist" TIMEOUT 180 SKIP_RETURN_CODE 77
                     RESOURCE_LOCK mpirun)
set_tests_properties(test_dist PROPERTIES SKIP_RETURN_CODE 77)
