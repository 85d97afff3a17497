# heartmula-quantize on the tiny fixture checkpoint, and heartmula-gen on what it writes.
heartmula_add_gen_test(test_quantize_cli SOURCE ${CMAKE_CURRENT_LIST_DIR}/test_quantize_cli.cpp TIMEOUT 300)
target_link_libraries(test_quantize_cli PRIVATE heartmula_model)
add_dependencies(test_quantize_cli heartmula-quantize)
