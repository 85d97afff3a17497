heartmula_add_test(test_hostile_checkpoint
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_hostile_checkpoint.cpp
  LIBS heartmula_model heartmula_codec heartmula_io
  LABEL unit)
