# Output safety of heartmula-gen on the tiny fixture checkpoint: kill -9 while the song is being
# written leaves the old file byte for byte (or nothing), -o /dev/full is a clear error, and the
# <song>.json sidecar agrees with the audio decoded back.
heartmula_add_gen_test(test_output_safety SOURCE ${CMAKE_CURRENT_LIST_DIR}/test_output_safety.cpp TIMEOUT 600 NO_SANITIZER)
