# Sourced by scripts/compare-with-rev.sh and scripts/walltime-ab.sh on the GPU machine: the
# carried .debs' libraries on the library path (libsndfile's libFLAC, ...: the older binary needs
# them in either phase, as device-check.sh sets them), and the build of one target of an older
# revision packed as a .tgz (git archive).
DEPS=/opt/heartmula-deps/usr
export LD_LIBRARY_PATH=$DEPS/lib/x86_64-linux-gnu:${LD_LIBRARY_PATH:-}

# build_rev TGZ DIR TARGET LOG LABEL: unpacks TGZ into DIR and builds TARGET into DIR/b; exits on failure.
build_rev() {
  local tgz=$1 dir=$2 target=$3 log=$4 label=$5 t0 tp
  rm -rf "$dir" && mkdir -p "$dir" && tar -xzf "$tgz" -C "$dir"
  tp=$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)')
  t0=$(date +%s)
  (cd "$dir" && cmake -S . -B b -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$tp;$DEPS" \
    -DCMAKE_BUILD_RPATH="$DEPS/lib/x86_64-linux-gnu" -DCMAKE_CUDA_ARCHITECTURES=90 && ninja -C b "$target") \
    >"$log" 2>&1 || { echo ">>> $label build: FAILED"; tail -20 "$log"; exit 1; }
  echo ">>> $label build: $(( $(date +%s) - t0 )) s"
}
