# Sampler (runtime) and language-model config / prompt unit tests.
heartmula_add_test(test_lm_unit
  SOURCES
    ${CMAKE_CURRENT_LIST_DIR}/test_sampler.cpp
    ${CMAKE_CURRENT_LIST_DIR}/test_lm_config.cpp
  LIBS heartmula_runtime heartmula_model
  LABEL unit)
