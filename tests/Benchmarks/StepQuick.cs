using System.Diagnostics;
using Qwen3Gen.Definitions;
using Qwen3Gen.Profiling;
using Qwen3Gen.Threading;
using Qwen3Gen.Models;

namespace Qwen3Gen.Benchmarks;

/// <summary>
/// Whole-step timings with a per-job breakdown (Stopwatch, best of N; the machine is shared, so the best run is the
/// least disturbed one): training steps of Qwen3Shakespeare (B12, T64) and Qwen3FullVocab (B4, T256), and 128-token
/// prefill + decode of the Qwen3-0.6B shape (random weights) in F32 and BF16.
/// dotnet run -c Release --project tests/Benchmarks -- step-quick [reps] [train|decode|all] [threads...]
/// </summary>
public static class StepQuick
{
    public static void Run(string[] args)
    {
        int reps = args.Length > 1 ? int.Parse(args[1]) : 5;
        string what = args.Length > 2 ? args[2] : "all";
        int[] threadCounts = args.Length > 3 ? args[3..].Select(int.Parse).ToArray() : [1, 2];
        Console.WriteLine($"Step quick benchmark: {Environment.ProcessorCount} cores, best of {reps}, {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC");
        if (what is "all" or "train" or "small")
        {
            using var small = Qwen3Shakespeare.Create();
            WeightInit.Normal(small, 1);
            Train("Qwen3Shakespeare B12 T64", small, 12, 64, reps * 4, threadCounts);
        }
        if (what is "all" or "train" or "full")
        {
            using var full = Qwen3FullVocab.Create();
            WeightInit.Normal(full, 1);
            Train("Qwen3FullVocab B4 T256", full, 4, 256, reps, threadCounts);
        }
        if (what is "all" or "decode" or "f32" or "bf16")
        {
            foreach (var format in new[] { WeightFormat.F32, WeightFormat.BF16 })
            {
                if (what == "f32" && format != WeightFormat.F32 || what == "bf16" && format != WeightFormat.BF16) continue;
                var clock = Stopwatch.StartNew();
                using var model = Qwen3_0_6B.Create(format);
                WeightInit.Normal(model, 1);
                Console.WriteLine($"  (Qwen3-0.6B {format}: weights initialised in {clock.Elapsed.TotalSeconds:F1} s)");
                using var work = new DecodeWorkload(model, promptLength: 128, decodeTokens: 16);
                foreach (int threads in threadCounts)
                {
                    Workers.Threads = threads;
                    var prefill = work.MeasurePrefill(Math.Max(2, reps / 2), profile: true);
                    Print($"Qwen3-0.6B {format} prefill 128", threads, prefill, 128);
                    var decode = work.MeasureDecode(Math.Max(2, reps / 2), profile: true);
                    Print($"Qwen3-0.6B {format} decode x{work.DecodeTokens}", threads, decode, work.DecodeTokens);
                }
            }
        }
    }

    private static void Train(string name, IQwen3Model model, int batch, int seqLen, int reps, int[] threadCounts)
    {
        using var work = new TrainingStepWorkload(model, batch, seqLen);
        foreach (int threads in threadCounts)
        {
            Workers.Threads = threads;
            Print(name, threads, work.Measure(reps, profile: true), work.Tokens);
        }
    }

    private static void Print(string name, int threads, WorkloadTiming t, int tokens)
    {
        Console.WriteLine($"{name}, {threads} thread(s): best {t.BestMilliseconds:F2} ms, median {t.MedianMilliseconds:F2} ms, " +
                          $"{tokens / t.BestMilliseconds * 1000:F1} tokens/s, allocated {t.AllocatedBytesPerCall} B/call");
        foreach (var p in t.Phases)
        {
            var parts = p.Jobs.OrderByDescending(j => j.Milliseconds).Select(j => $"{j.Job} {j.Milliseconds:F2} ({j.Calls})");
            Console.WriteLine($"    {p.Phase,-15} {p.Milliseconds,9:F2} ms = serial {p.SerialMilliseconds:F2} + {string.Join(", ", parts)}");
        }
    }
}
