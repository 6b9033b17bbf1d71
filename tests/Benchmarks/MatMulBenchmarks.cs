using Qwen3Gen.Kernels;
using Qwen3Gen.Profiling;
using System.Diagnostics;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using Qwen3Gen.Threading;

namespace Qwen3Gen.Benchmarks;

/// <summary>
/// MatMul kernels on the model shapes, with GFLOP/s (2 · rows · in · out per call) and, for decode, weight GB/s.
/// BenchmarkDotNet: dotnet run -c Release --project tests/Benchmarks -- --filter '*MatMulBenchmarks*'
/// Quick best-of-N table (Stopwatch): dotnet run -c Release --project tests/Benchmarks -- matmul-quick [reps]
/// </summary>
[Config(typeof(MatMulConfig))]
public unsafe class MatMulBenchmarks
{
    public enum Op { Forward, ForwardBF16, BackwardInput, BackwardWeight }

    /// <summary>"rows x in x out".</summary>
    [Params("768x128x384", "768x384x128", "128x1024x3072", "128x3072x1024", "1x1024x3072", "1x1024x151936")]
    public string Shape { get; set; } = "768x128x384";

    [Params(Op.Forward, Op.ForwardBF16, Op.BackwardInput, Op.BackwardWeight)]
    public Op Kind { get; set; }

    [Params(1, 2)]
    public int Threads { get; set; }

    private MatMulCase? _case;

    [GlobalSetup]
    public void Setup()
    {
        var (rows, inDim, outDim) = MatMulCase.Parse(Shape);
        _case = new MatMulCase(rows, inDim, outDim);
        Workers.Threads = Threads;
    }

    [GlobalCleanup]
    public void Cleanup() => _case?.Dispose();

    [Benchmark]
    public void MatMul() => _case!.Run(Kind);

    private sealed class MatMulConfig : ManualConfig
    {
        public MatMulConfig() => AddColumn(new RateColumn(gb: false), new RateColumn(gb: true));
    }

    /// <summary>GFLOP/s = 2 · rows · in · out / mean time; GB/s = weight bytes / mean time (meaningful for decode).</summary>
    private sealed class RateColumn(bool gb) : IColumn
    {
        public string Id => gb ? "GBps" : "GFLOPs";
        public string ColumnName => gb ? "Weight GB/s" : "GFLOP/s";
        public bool AlwaysShow => true;
        public ColumnCategory Category => ColumnCategory.Custom;
        public int PriorityInCategory => 0;
        public bool IsNumeric => true;
        public UnitType UnitType => UnitType.Dimensionless;
        public string Legend => gb ? "Weight bytes read per second (decode)" : "Floating-point operations per second";
        public bool IsAvailable(Summary summary) => true;
        public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;
        public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, SummaryStyle.Default);

        public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
        {
            var report = summary[benchmarkCase];
            if (report?.ResultStatistics is not { } stats) return "-";
            var (rows, inDim, outDim) = MatMulCase.Parse((string)benchmarkCase.Parameters["Shape"]);
            var op = (Op)benchmarkCase.Parameters["Kind"];
            double seconds = stats.Mean * 1e-9;
            double value = gb ? (double)inDim * outDim * (op == Op.ForwardBF16 ? 2 : 4) / seconds / 1e9
                              : 2.0 * rows * inDim * outDim / seconds / 1e9;
            return value.ToString("F1", System.Globalization.CultureInfo.InvariantCulture);
        }
    }
}

/// <summary>One shape's buffers: the runtime's <see cref="MatMulWorkload"/> (shared with `bench`), plus the plain-read bandwidth probe.</summary>
public sealed class MatMulCase : IDisposable
{
    public readonly int Rows, In, Out;
    private readonly MatMulWorkload _work;

    public MatMulCase(int rows, int inDim, int outDim)
    {
        Rows = rows; In = inDim; Out = outDim;
        _work = new MatMulWorkload(rows, inDim, outDim);
    }

    public static (int Rows, int In, int Out) Parse(string shape)
    {
        var p = shape.Split('x');
        return (int.Parse(p[0]), int.Parse(p[1]), int.Parse(p[2]));
    }

    public void Run(MatMulBenchmarks.Op op) => _work.Run((MatMulOp)(int)op);   // same order: Forward, ForwardBF16, BackwardInput, BackwardWeight

    /// <summary>Best-of-n GB/s of a plain sequential read of the F32 weights: the bandwidth available right now.</summary>
    public double ReadBandwidth(int n) => _work.ReadBandwidth(n);

    public void Dispose() => _work.Dispose();
}

/// <summary>
/// The quick table: best-of-N Stopwatch timings (the machine is shared, so the best run is the least disturbed one),
/// 1 and 2 threads, GFLOP/s and, for decode, weight GB/s. Also reports GC bytes allocated during the timed calls.
/// </summary>
public static class MatMulQuick
{
    public static void Run(string[] args)
    {
        int reps = args.Length > 1 ? int.Parse(args[1]) : 10;
        string? only = args.Length > 2 ? args[2] : null;
        Console.WriteLine($"MatMul quick benchmark: {SimdInfo()}, {Environment.ProcessorCount} cores, best of {reps}, {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC");
        Console.WriteLine($"{"shape (rows x in x out)",-24} {"op",-15} {"threads",7} {"ms",9} {"GFLOP/s",9} {"W GB/s",8} {"alloc B",8}");
        var shapes = new (string Shape, MatMulBenchmarks.Op[] Ops, int Reps)[]
        {
            ("768x128x384", [MatMulBenchmarks.Op.Forward, MatMulBenchmarks.Op.BackwardInput, MatMulBenchmarks.Op.BackwardWeight], reps),
            ("768x384x128", [MatMulBenchmarks.Op.Forward, MatMulBenchmarks.Op.BackwardInput, MatMulBenchmarks.Op.BackwardWeight], reps),
            ("768x384x384", [MatMulBenchmarks.Op.Forward, MatMulBenchmarks.Op.BackwardInput, MatMulBenchmarks.Op.BackwardWeight], reps),
            ("128x1024x3072", [MatMulBenchmarks.Op.Forward, MatMulBenchmarks.Op.ForwardBF16], reps),
            ("128x3072x1024", [MatMulBenchmarks.Op.Forward, MatMulBenchmarks.Op.ForwardBF16], reps),
            ("1x1024x3072", [MatMulBenchmarks.Op.Forward, MatMulBenchmarks.Op.ForwardBF16], reps * 10),
            ("1x1024x151936", [MatMulBenchmarks.Op.Forward, MatMulBenchmarks.Op.ForwardBF16], reps),
            ("1024x256x151936", [MatMulBenchmarks.Op.Forward, MatMulBenchmarks.Op.BackwardInput, MatMulBenchmarks.Op.BackwardWeight], Math.Max(2, reps / 4)),
        };
        if (only != null && Array.FindIndex(shapes, s => s.Shape == only) < 0)
            shapes = [(only, Enum.GetValues<MatMulBenchmarks.Op>(), reps)];   // any "rows x in x out" given on the command line
        foreach (var (shape, ops, n) in shapes)
        {
            if (only != null && shape != only) continue;
            var (rows, inDim, outDim) = MatMulCase.Parse(shape);
            using var c = new MatMulCase(rows, inDim, outDim);
            if (rows <= 4)
                Console.WriteLine($"{shape,-24} {"(read F32 W)",-15} {1,7} {"",9} {"",9} {c.ReadBandwidth(n),8:F1}");
            foreach (var op in ops)
                foreach (int threads in new[] { 1, 2 })
                {
                    Workers.Threads = threads;
                    c.Run(op); c.Run(op);                                  // warm-up (JIT tiers, pages, pool)
                    long allocated = GC.GetAllocatedBytesForCurrentThread();
                    double best = double.MaxValue;
                    for (int i = 0; i < n; i++)
                    {
                        long t0 = Stopwatch.GetTimestamp();
                        c.Run(op);
                        best = Math.Min(best, Stopwatch.GetElapsedTime(t0).TotalSeconds);
                    }
                    allocated = GC.GetAllocatedBytesForCurrentThread() - allocated;
                    double gflops = 2.0 * rows * inDim * outDim / best / 1e9;
                    double gbs = (double)inDim * outDim * (op == MatMulBenchmarks.Op.ForwardBF16 ? 2 : 4) / best / 1e9;
                    Console.WriteLine($"{shape,-24} {op,-15} {threads,7} {best * 1e3,9:F3} {gflops,9:F1} {(rows <= 4 ? gbs.ToString("F1") : "-"),8} {allocated,8}");
                }
        }
    }

    private static string SimdInfo() =>
        System.Runtime.Intrinsics.Vector512.IsHardwareAccelerated ? "Vector512" :
        System.Runtime.Intrinsics.Vector256.IsHardwareAccelerated ? "Vector256" :
        System.Runtime.Intrinsics.Vector128.IsHardwareAccelerated ? "Vector128" : "scalar";
}
