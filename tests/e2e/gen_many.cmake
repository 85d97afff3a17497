# heartmula-gen with several songs in one LM batch (--num-songs, --batch-size) on the tiny
# fixture checkpoint: the songs equal those made one at a time.
heartmula_add_gen_test(test_gen_many SOURCE ${CMAKE_CURRENT_LIST_DIR}/test_gen_many.cpp TIMEOUT 600 NO_SANITIZER)
