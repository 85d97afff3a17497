# The generation pipeline's parts (runtime/threading.h): an output batch drains the codec
# worker before its songs go (also when the frame loop throws); an interrupted batch saves
# what exists and starts no later batch. On the tiny fixture checkpoint.
heartmula_add_asset_test(test_pipeline
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_pipeline.cpp
  LIBS heartmula_runtime heartmula_io
  LABEL unit)
