# --temperature START:END[:linear|cosine] on the tiny fixture checkpoint: a schedule runs (CLI
# and batch file), a constant schedule gives the constant temperature's bytes, bad texts exit 2.
heartmula_add_gen_test(test_gen_temperature SOURCE ${CMAKE_CURRENT_LIST_DIR}/test_gen_temperature.cpp TIMEOUT 300 NO_SANITIZER)
