# 8-bit weights: the quantization rule and the int8 linear (CPU), and the tiny fixture model in
# int8 (load paths, the same bytes from a quantized checkpoint, frames against bf16).
heartmula_add_test(test_quantize
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_quantize.cpp
  LIBS heartmula_model
  LABEL unit)
heartmula_add_test(test_int8_model
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_int8_model.cpp ${PROJECT_SOURCE_DIR}/tools/bench/fidelity.cpp
  LIBS heartmula_runtime heartmula_model
  LABEL unit)
target_include_directories(test_int8_model PRIVATE ${PROJECT_SOURCE_DIR}/tools)
