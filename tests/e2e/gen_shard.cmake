# heartmula-gen --shard K/N and --skip-existing on the tiny fixture checkpoint: shards together
# give exactly the files of the unsharded run; a rerun with --skip-existing makes only what is
# missing and leaves the rest untouched; bad --shard values are usage errors.
heartmula_add_gen_test(test_gen_shard SOURCE ${CMAKE_CURRENT_LIST_DIR}/test_gen_shard.cpp TIMEOUT 900 NO_SANITIZER)
