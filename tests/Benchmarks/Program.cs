using BenchmarkDotNet.Running;

// Runs the BenchmarkDotNet benchmarks: dotnet run -c Release --project tests/Benchmarks -- --filter '*'
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
