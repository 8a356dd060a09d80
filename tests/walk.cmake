# File walker of `mediagrep index` (src/pipeline/walk.c): globs, kind
# sniffing, and walks over a built tree (symlink loops, hard links, a FIFO,
# hidden entries, include/exclude, max_depth). Compiled against walk.c alone
# so it does not depend on the rest of the pipeline module.
mg_test(NAME test_walk
  SOURCES test_walk.c ${CMAKE_SOURCE_DIR}/src/pipeline/walk.c
  LIBS mg_media mg_core
  LABELS pipeline)
