#!/usr/bin/env bash
# Runs the kernel and optimizer tests (tests/Runtime.Tests/Kernels, /Optim) once per vector path:
#   default                      -> Vector512 where the CPU has AVX-512
#   DOTNET_EnableAVX512=0        -> Vector256
#   DOTNET_EnableAVX2=0          -> Vector128
#   DOTNET_EnableHWIntrinsic=0   -> scalar
# (DOTNET_EnableAVX512F=0 does not turn Vector512 off on .NET 10; see STYLE.md.)
# Usage: tests/run-isa-matrix.sh [extra dotnet test args]
set -euo pipefail
cd "$(dirname "$0")/.."
dotnet build tests/Runtime.Tests -c Release -v q -nologo
status=0
for setting in "" DOTNET_EnableAVX512=0 DOTNET_EnableAVX2=0 DOTNET_EnableHWIntrinsic=0; do
  echo "=== ${setting:-default (widest vectors)} ==="
  if ! env $setting dotnet test tests/Runtime.Tests -c Release --no-build --nologo \
        --filter "FullyQualifiedName~Qwen3Gen.Runtime.Tests.Kernels|FullyQualifiedName~Qwen3Gen.Runtime.Tests.Optim" "$@"; then
    status=1
  fi
done
exit $status
