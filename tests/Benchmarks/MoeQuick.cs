using System.Diagnostics;
using Qwen3Gen.Models;
using Qwen3Gen.Threading;

namespace Qwen3Gen.Benchmarks;

/// <summary>
/// A quick, interleaved MoE-vs-dense forward measurement (the same pairs as <see cref="MoeBenchmarks"/>): the two
/// models alternate call by call, so load from other processes hits both alike; reports the median.
/// dotnet run -c Release --project tests/Benchmarks -- moe-quick [iterations]
/// </summary>
public static class MoeQuick
{
    public static void Run(string[] args)
    {
        int iterations = args.Length > 1 ? int.Parse(args[1]) : 15;
        Console.WriteLine($"{Environment.ProcessorCount} logical cores, {System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture}, " +
                          $"Vector512 {System.Runtime.Intrinsics.Vector512.IsHardwareAccelerated}, .NET {Environment.Version}; " +
                          $"B×T = {MoeBenchmarks.Batch}×{MoeBenchmarks.SeqLen}, inference forward, F32, median of {iterations}");
        Console.WriteLine($"{"pair",-12} {"threads",7} {"params MoE/dense",22} {"active MoE",12} {"dense tok/s",12} {"MoE tok/s",12} {"MoE/dense",9}  expert load (layer 0, min..max rows)");
        foreach (var pair in new[] { "shakespeare", "mid" })
        {
            var (moe, dense) = MoeBenchmarks.Create(pair);
            var ids = MoeBenchmarks.Inputs(moe.Config.Vocab);
            var c = moe.Config;
            long total = moe.Tensors.Sum(t => t.Length), denseTotal = dense.Tensors.Sum(t => t.Length);
            int sparse = Enumerable.Range(0, c.Layers).Count(c.IsSparse);
            long active = total - (long)sparse * (c.Experts - c.ExpertsPerToken) * 3L * c.ExpertFfn * c.Hidden;
            foreach (int threads in new[] { 1, 2 })
            {
                Workers.Threads = threads;
                var td = new List<double>();
                var tm = new List<double>();
                for (int i = 0; i < iterations + 3; i++)
                {
                    double d = Time(() => dense.Forward(ids, [], MoeBenchmarks.Batch, MoeBenchmarks.SeqLen));
                    double m = Time(() => moe.Forward(ids, [], MoeBenchmarks.Batch, MoeBenchmarks.SeqLen));
                    if (i >= 3) { td.Add(d); tm.Add(m); }   // 3 warm-up rounds (JIT tiering)
                }
                double rows = MoeBenchmarks.Batch * MoeBenchmarks.SeqLen, dMed = Median(td), mMed = Median(tm);
                int[] load = ((IMoeModel)moe).ExpertLoad(0);
                Console.WriteLine($"{pair,-12} {threads,7} {$"{total / 1e6:F2}M / {denseTotal / 1e6:F2}M",22} {$"{active / 1e6:F2}M",12} " +
                                  $"{rows / dMed,12:F0} {rows / mMed,12:F0} {dMed / mMed,9:F2}  {load.Min()}..{load.Max()}");
            }
            moe.Dispose();
            dense.Dispose();
        }
    }

    static double Time(Action a)
    {
        var sw = Stopwatch.StartNew();
        a();
        return sw.Elapsed.TotalSeconds;
    }

    static double Median(List<double> x)
    {
        x.Sort();
        return x[x.Count / 2];
    }
}
