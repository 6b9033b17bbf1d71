using System.Diagnostics;
using System.Runtime.InteropServices;
using Qwen3Gen.Kernels;
using Qwen3Gen.Threading;

namespace Qwen3Gen.Benchmarks;

/// <summary>
/// Paired A/B of one decode lever on a busy machine: the two variants run alternately, call after call, and the
/// figure is the median of the per-pair time ratios, so load that comes and goes hits both alike.
/// dotnet run -c Release --project tests/Benchmarks -- paired-quick hugepages [pairs] [threads]
/// hugepages: the BF16 LM-head product of Qwen3-0.6B (151,936 × 1,024, 311 MB) from a buffer in 2 MiB pages (A) and
/// from one in 4 KiB pages (B).
/// </summary>
public static unsafe class PairedQuick
{
    public static void Run(string[] args)
    {
        int pairs = args.Length > 2 ? int.Parse(args[2]) : 30;
        Workers.Threads = args.Length > 3 ? int.Parse(args[3]) : 2;
        const int Out = 151_936, In = 1024;
        nuint bytes = (nuint)((long)Out * In * sizeof(BF16));
        var a = (BF16*)NativeMemory.AlignedAlloc(bytes, (nuint)HugePages.PageBytes);
        var b = (BF16*)NativeMemory.AlignedAlloc(bytes, (nuint)HugePages.PageBytes);
        HugePages.Advise(a, bytes);
        var random = new Random(1);
        for (long i = 0; i < (long)Out * In; i++) a[i] = b[i] = (BF16)(float)(random.NextDouble() - 0.5);
        float* x = (float*)NativeMemory.AlignedAlloc(In * 4, 64), y = (float*)NativeMemory.AlignedAlloc(Out * 4, 64);
        for (int i = 0; i < In; i++) x[i] = (float)random.NextDouble();
        var ratios = new List<double>(); double bestA = double.MaxValue, bestB = double.MaxValue;
        for (int p = 0; p < pairs; p++)
        {
            double ta = Time(() => MatMul.Forward(y, x, a, 1, In, Out));
            double tb = Time(() => MatMul.Forward(y, x, b, 1, In, Out));
            ratios.Add(tb / ta); bestA = Math.Min(bestA, ta); bestB = Math.Min(bestB, tb);
        }
        ratios.Sort();
        Console.WriteLine($"hugepages (enabled: {HugePages.Enabled}), {Workers.Threads} threads, {pairs} pairs: 2 MiB best {bestA:F2} ms " +
                          $"({bytes / bestA / 1e6:F1} GB/s), 4 KiB best {bestB:F2} ms ({bytes / bestB / 1e6:F1} GB/s); " +
                          $"time ratio 4K/2M median {ratios[pairs / 2]:F3} (min {ratios[0]:F3}, max {ratios[^1]:F3})");
    }

    private static double Time(Action run)
    {
        long t0 = Stopwatch.GetTimestamp();
        run();
        return Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
    }
}
