heartmula_add_test(test_tokenizer
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_tokenizer.cpp
  LIBS heartmula_text
  LABEL unit)
