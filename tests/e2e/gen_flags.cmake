# heartmula-gen's flag habits (a repeated option takes its last value, as upstream's argparse).
heartmula_add_gen_test(test_gen_flags SOURCE ${CMAKE_CURRENT_LIST_DIR}/test_gen_flags.cpp TIMEOUT 120)
