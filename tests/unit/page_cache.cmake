heartmula_add_test(test_page_cache
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_page_cache.cpp
  LIBS heartmula_io
  LABEL unit)
