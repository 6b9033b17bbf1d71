using System.Diagnostics;
using Qwen3Gen.Kernels;
using Qwen3Gen.Models;
using Qwen3Gen.Threading;

namespace Qwen3Gen.Benchmarks;

/// <summary>
/// Paired A/B of a product's sizes as constants (A: <c>MatMul.Forward&lt;P&gt;</c>, the kernels compiled for P's In and Out)
/// against the same product with run-time sizes (B: <c>MatMul.Forward(…, inDim, outDim)</c>), on Qwen3-0.6B's shapes.
/// The two run alternately, call after call, and the figure is the median of the per-pair time ratios B / A (above 1:
/// the constants are faster), so load that comes and goes hits both alike.
/// dotnet run -c Release --project tests/Benchmarks -- sizes-quick [pairs] [threads]
/// </summary>
public static unsafe class SizesQuick
{
    private readonly struct QProj : IProduct { public static int In => 1024; public static int Out => 2048; }
    private readonly struct GateProj : IProduct { public static int In => 1024; public static int Out => 3072; }
    private readonly struct DownProj : IProduct { public static int In => 3072; public static int Out => 1024; }

    public static void Run(string[] args)
    {
        int pairs = args.Length > 1 ? int.Parse(args[1]) : 30;
        Workers.Threads = args.Length > 2 ? int.Parse(args[2]) : 1;
        using var x = new NativeBuffer<float>(64 * 3072);
        using var w = new NativeBuffer<float>(3072L * 1024);
        using var wb = new NativeBuffer<BF16>(3072L * 1024);
        using var y = new NativeBuffer<float>(64 * 3072);
        var random = new Random(1);
        for (long i = 0; i < x.Length; i++) x.Pointer[i] = (float)(random.NextDouble() - 0.5);
        for (long i = 0; i < w.Length; i++) { w.Pointer[i] = (float)(random.NextDouble() - 0.5); wb.Pointer[i] = BF16.FromSingle(w.Pointer[i]); }
        Console.WriteLine($"{Workers.Threads} thread(s), {pairs} pairs, {SimdLevel.Name}; ratio = run-time / constant time per pair");
        foreach (int rows in new[] { 1, 8, 64 })
            foreach (var (name, format) in new[] { ("F32", WeightMatrix.F32(w.Pointer)), ("BF16", WeightMatrix.BF16(wb.Pointer)) })
            {
                Pair<QProj>("q_proj", name, format, rows, pairs);
                Pair<GateProj>("gate_proj", name, format, rows, pairs);
                Pair<DownProj>("down_proj", name, format, rows, pairs);
            }

        void Pair<P>(string product, string format, WeightMatrix m, int rows, int count) where P : struct, IProduct
        {
            var ratios = new List<double>();
            double bestA = double.MaxValue, bestB = double.MaxValue;
            MatMul.Forward<P>(y.Pointer, x.Pointer, m, rows);                      // compile both before timing
            MatMul.Forward(y.Pointer, x.Pointer, m, rows, P.In, P.Out);
            for (int p = 0; p < count; p++)
            {
                // A then B, then B then A: the second of a pair finds more of W in cache, so the order alternates.
                double a = 0, b = 0;
                for (int i = 0; i < 2; i++)
                    if ((p + i) % 2 == 0) a = Time(() => MatMul.Forward<P>(y.Pointer, x.Pointer, m, rows));
                    else b = Time(() => MatMul.Forward(y.Pointer, x.Pointer, m, rows, P.In, P.Out));
                ratios.Add(b / a); bestA = Math.Min(bestA, a); bestB = Math.Min(bestB, b);
            }
            ratios.Sort();
            Console.WriteLine($"{product,-9} {format,-4} {rows,2} x {P.In} x {P.Out}: constant best {bestA,7:F3} ms, run-time best {bestB,7:F3} ms; " +
                              $"ratio median {ratios[count / 2]:F3} (min {ratios[0]:F3}, max {ratios[^1]:F3})");
        }
    }

    private static double Time(Action run)
    {
        long t0 = Stopwatch.GetTimestamp();
        run();
        return Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
    }
}
