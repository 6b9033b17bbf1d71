using BenchmarkDotNet.Running;

// Runs the BenchmarkDotNet benchmarks: dotnet run -c Release --project tests/Benchmarks -- --filter '*'
if (args is ["matmul-quick", ..]) { Qwen3Gen.Benchmarks.MatMulQuick.Run(args); return; }
if (args is ["step-quick", ..]) { Qwen3Gen.Benchmarks.StepQuick.Run(args); return; }
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
