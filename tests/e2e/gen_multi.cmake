# heartmula-gen on several devices in one process (--device cpu,cpu: two workers) on the tiny
# fixture checkpoint: the same songs as one device, each reported once with its device, Ctrl-C
# saving on both, bad device lists refused.
heartmula_add_gen_test(test_gen_multi SOURCE ${CMAKE_CURRENT_LIST_DIR}/test_gen_multi.cpp TIMEOUT 600)
