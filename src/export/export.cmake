# `mediagrep export` (src/export): the Parquet and .npy writers (mg_export_fmt,
# which depend on nothing but mg_core, so their unit tests link them alone)
# and the exporter over a store (mg_export), plus the CLI command.
mg_module(mg_export_fmt SOURCES src/export/parquet.c src/export/npy.c LIBS mg_core)
target_compile_definitions(mg_export_fmt PRIVATE MG_PQ_VERSION_STRING="${PROJECT_VERSION}")
mg_module(mg_export SOURCES src/export/export.c
  LIBS mg_core mg_export_fmt mg_store mg_vindex PkgConfig::JSONC PkgConfig::SQLITE)
target_sources(libmediagrep PRIVATE $<TARGET_OBJECTS:mg_export_fmt> $<TARGET_OBJECTS:mg_export>)
target_sources(mediagrep PRIVATE src/cli/cli_export.c)
