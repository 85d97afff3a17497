# The numeric song parameters' one table (src/runtime/song_params.h): the same bad value gets
# the same message from heartmula-gen's command line, a batch-file line and SongRequest::validate().
heartmula_add_test(test_song_params
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/gen_test_util.cpp ${CMAKE_CURRENT_LIST_DIR}/test_song_params.cpp
  LIBS heartmula_runtime nlohmann_json::nlohmann_json
  LABEL e2e)
add_dependencies(test_song_params heartmula-gen)
