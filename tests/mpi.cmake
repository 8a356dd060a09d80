# `mediagrep index` under mpirun (issue 17; pipeline/index_dist.c): a
# 3-rank store equals a one-process store with CLIP, OCR and speech; a slowed
# rank takes a smaller share; SIGKILLs of workers and rank 0 then resumes
# with any number of ranks; a SIGSTOPped rank trips the watchdog. Skipped
# (77) without mpirun or the MPI module.
mg_test(NAME test_mpi_index SOURCES test_mpi_index.c storedump.c LIBS libmediagrep LABELS "index;dist")
add_dependencies(test_mpi_index mediagrep)
set_tests_properties(test_mpi_index PROPERTIES FIXTURES_REQUIRED "whisper_models;test_models"
                     SKIP_RETURN_CODE 77 TIMEOUT 900)

# The rank-0 capacity bench (bench/dist_capacity.sh, synthetic workers) runs
# and commits every file with its vectors, in one process and with 3 ranks.
add_test(NAME dist_capacity_bench COMMAND ${CMAKE_SOURCE_DIR}/tests/dist_capacity_check.sh
         ${CMAKE_SOURCE_DIR} $<TARGET_FILE:mediagrep>)
# mpirun jobs one at a time (two at once on 2 cores time out each other's handshakes)
set_tests_properties(dist_capacity_bench PROPERTIES LABELS "dist" SKIP_RETURN_CODE 77 TIMEOUT 300
                     RESOURCE_LOCK mpirun)
set_tests_properties(test_mpi_index PROPERTIES RESOURCE_LOCK mpirun)
