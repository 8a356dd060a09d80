# libmediagrep.so.1: the public C API (include/mediagrep.h, src/api/*) over
# every module's objects, as one shared library for Python (python/) and
# other languages. Only mediagrep_* symbols are exported (hidden visibility,
# a version script, and the static archives it links, faiss among them,
# kept local with --exclude-libs).
add_library(mediagrep_shared SHARED src/api/api.c src/api/api_store.c src/api/api_model.c
  $<TARGET_OBJECTS:mg_core> $<TARGET_OBJECTS:mg_text> $<TARGET_OBJECTS:mg_media> $<TARGET_OBJECTS:mg_video>
  $<TARGET_OBJECTS:mg_backend> $<TARGET_OBJECTS:mg_model> $<TARGET_OBJECTS:mg_hub>
  $<TARGET_OBJECTS:mg_vindex> $<TARGET_OBJECTS:mg_store> $<TARGET_OBJECTS:mg_search>
  $<TARGET_OBJECTS:mg_classify> $<TARGET_OBJECTS:mg_ocr> $<TARGET_OBJECTS:mg_whisper>
  $<TARGET_OBJECTS:mg_pipeline> $<TARGET_OBJECTS:mg_dist>)
target_include_directories(mediagrep_shared PRIVATE ${MG_INCLUDE_DIRS})
target_compile_definitions(mediagrep_shared PRIVATE MG_API_VERSION_STRING="${PROJECT_VERSION}")
set_target_properties(mediagrep_shared PROPERTIES
  OUTPUT_NAME mediagrep VERSION 1.0.0 SOVERSION 1
  C_VISIBILITY_PRESET hidden CXX_VISIBILITY_PRESET hidden
  LINK_DEPENDS ${CMAKE_SOURCE_DIR}/src/api/mediagrep.map)
target_link_options(mediagrep_shared PRIVATE
  -Wl,--version-script=${CMAKE_SOURCE_DIR}/src/api/mediagrep.map -Wl,--exclude-libs,ALL -Wl,--no-undefined)
target_link_libraries(mediagrep_shared PRIVATE ${MG_PARSER_LIBS} PkgConfig::CURL PkgConfig::CRYPTO
  PkgConfig::FFMPEG PkgConfig::SQLITE PkgConfig::XXHASH PkgConfig::TESS PkgConfig::ZLIB faiss
  OpenMP::OpenMP_CXX mg_dnnl OpenMP::OpenMP_C Threads::Threads m ${CMAKE_DL_LIBS})
if(MG_HAVE_CUDA)
  add_dependencies(mediagrep_shared mediagrep_cuda)
endif()
if(MG_HAVE_MPI)
  add_dependencies(mediagrep_shared mediagrep_mpi)
endif()
include(GNUInstallDirs)
install(TARGETS mediagrep_shared LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(FILES ${CMAKE_SOURCE_DIR}/include/mediagrep.h DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
