using BenchmarkDotNet.Running;

// Runs the BenchmarkDotNet benchmarks: dotnet run -c Release --project tests/Benchmarks -- --filter '*'
if (args is ["matmul-quick", ..]) { Qwen3Gen.Benchmarks.MatMulQuick.Run(args); return; }
if (args is ["step-quick", ..]) { Qwen3Gen.Benchmarks.StepQuick.Run(args); return; }
if (args is ["paired-quick", ..]) { Qwen3Gen.Benchmarks.PairedQuick.Run(args); return; }
if (args is ["sizes-quick", ..]) { Qwen3Gen.Benchmarks.SizesQuick.Run(args); return; }
if (args is ["moe-quick", ..]) { Qwen3Gen.Benchmarks.MoeQuick.Run(args); return; }
if (args is ["tokenizer-quick", ..]) { Qwen3Gen.Benchmarks.TokenizerQuick.Run(args); return; }
if (args is ["gen-size", ..]) { Qwen3Gen.Benchmarks.GeneratorBenchmarks.Report(args); return; }
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
