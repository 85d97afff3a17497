# heartmula-gen against the upstream reference: the greedy command with the fixture's tags and
# lyrics writes exactly tests/data/lm/mula_cfg15 / mula_cfg10's frames.
heartmula_add_gen_test(test_gen_reference SOURCE ${CMAKE_CURRENT_LIST_DIR}/test_gen_reference.cpp TIMEOUT 300)
