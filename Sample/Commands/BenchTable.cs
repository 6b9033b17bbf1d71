using System.Diagnostics;
using System.Globalization;
using Qwen3Gen.Definitions;
using Qwen3Gen.Profiling;
using Qwen3Gen.Threading;
using Qwen3Gen.Models;

namespace Qwen3Gen.Sample.Commands;

/// <summary>
/// `qwen3gen bench`: the performance table of the speed issue on this machine: matrix-product GFLOP/s on the model
/// shapes, training-step time of the nanoGPT-size and full-vocabulary models, and Qwen3-0.6B-shape prefill and decode
/// tokens/s (random weights), with the spread of the repetitions (best / median / worst) and, for decode, the weight
/// bytes read per second. No reference column: a speed comparison is only meaningful side by side, in the same
/// minutes, with the side-by-side kit docs/performance.md describes; figures from another day were 20–30% off.
/// --quick: small shapes and fewer repetitions only (under a minute).
/// </summary>
internal static class BenchTable
{
    public static int Run(bool quick, int[] threadCounts, TextWriter output)
    {
        var c = CultureInfo.InvariantCulture;
        int saved = Workers.Threads;
        int reps = quick ? 3 : 5;
        try
        {
            output.WriteLine($"qwen3gen bench{(quick ? " --quick" : "")}");
            output.WriteLine($"machine: {CpuModel()}, {Environment.ProcessorCount} cores, {SimdLevelName()}; threads {string.Join(",", threadCounts)}; " +
                             $"{DateTime.UtcNow.ToString("yyyy-MM-dd HH:mm", c)} UTC; .NET {Environment.Version}; best of {reps}");
            output.WriteLine();
            output.WriteLine("| workload | threads | best | median | worst | rate (best) | alloc B/call |");
            output.WriteLine("|---|---|---|---|---|---|---|");

            // ---- matrix products on the model shapes ----
            var shapes = quick
                ? new (string Name, int Rows, int In, int Out, MatMulOp Op)[]
                {
                    ("train fwd 768x128x384", 768, 128, 384, MatMulOp.Forward),
                    ("train bwd-in 768x128x384", 768, 128, 384, MatMulOp.BackwardInput),
                    ("train bwd-W 768x128x384", 768, 128, 384, MatMulOp.BackwardWeight),
                    ("decode F32 1x1024x3072", 1, 1024, 3072, MatMulOp.Forward),
                    ("decode BF16 1x1024x3072", 1, 1024, 3072, MatMulOp.ForwardBF16),
                }
                : new (string, int, int, int, MatMulOp)[]
                {
                    ("train fwd 768x128x384", 768, 128, 384, MatMulOp.Forward),
                    ("train bwd-in 768x128x384", 768, 128, 384, MatMulOp.BackwardInput),
                    ("train bwd-W 768x128x384", 768, 128, 384, MatMulOp.BackwardWeight),
                    ("LM head fwd 1024x256x151936", 1024, 256, 151_936, MatMulOp.Forward),
                    ("prefill 128x1024x3072", 128, 1024, 3072, MatMulOp.Forward),
                    ("prefill BF16 128x1024x3072", 128, 1024, 3072, MatMulOp.ForwardBF16),
                    ("decode F32 1x1024x3072", 1, 1024, 3072, MatMulOp.Forward),
                    ("decode BF16 1x1024x3072", 1, 1024, 3072, MatMulOp.ForwardBF16),
                };
            foreach (var (name, rows, inDim, outDim, op) in shapes)
            {
                using var mm = new MatMulWorkload(rows, inDim, outDim);
                foreach (int threads in threadCounts)
                {
                    Workers.Threads = threads;
                    var t = mm.Measure(op, rows == 1 ? reps * 20 : reps * 2);
                    double gflops = 2.0 * rows * inDim * outDim / t.BestMilliseconds / 1e6;
                    string extra = rows == 1 ? string.Format(c, ", {0:0.0} GB/s", (double)inDim * outDim * (op == MatMulOp.ForwardBF16 ? 2 : 4) / t.BestMilliseconds / 1e6) : "";
                    Row(output, $"matmul {name}", threads, t, string.Format(c, "{0:0.0} GFLOP/s{1}", gflops, extra));
                }
            }

            // ---- training steps ----
            Train(output, "train step Qwen3Shakespeare B12 T64", Qwen3Shakespeare.Create(), 12, 64, reps * 3, threadCounts);
            if (!quick) Train(output, "train step Qwen3FullVocab B4 T256", Qwen3FullVocab.Create(), 4, 256, 3, threadCounts);

            // ---- inference ----
            if (quick)
                Infer(output, "Qwen3Shakespeare", Qwen3Shakespeare.Create(WeightFormat.F32), 64, 16, reps, threadCounts);
            else
            {
                Infer(output, "Qwen3-0.6B BF16", Qwen3_0_6B.Create(WeightFormat.BF16), 128, 16, 3, threadCounts);
                Infer(output, "Qwen3-0.6B F32", Qwen3_0_6B.Create(WeightFormat.F32), 128, 16, 3, threadCounts);
            }
            using var process = Process.GetCurrentProcess();
            output.WriteLine();
            output.WriteLine(string.Format(c, "peak memory (working set): {0:0.00} GB. Prefill rows compute the logits of the last prompt " +
                "position only (the one a generator samples from). To compare with llama.cpp or PyTorch, run both side by side in the same " +
                "minutes (how: docs/performance.md, \"Side by side\").", process.PeakWorkingSet64 / 1e9));
            return 0;
        }
        finally { Workers.Threads = saved; }
    }

    private static void Train(TextWriter output, string name, IQwen3Model model, int batch, int seqLen, int reps, int[] threadCounts)
    {
        using (model)
        {
            WeightInit.Normal(model, 1);
            using var work = new TrainingStepWorkload(model, batch, seqLen);
            foreach (int threads in threadCounts)
            {
                Workers.Threads = threads;
                var t = work.Measure(reps);
                Row(output, name, threads, t, Rate(work.Tokens, t.BestMilliseconds));
            }
        }
    }

    private static void Infer(TextWriter output, string name, IQwen3Model model, int prompt, int decode, int reps, int[] threadCounts)
    {
        using (model)
        {
            Workers.Threads = Environment.ProcessorCount;
            BenchCommand.FastRandom(model, seed: 1);
            using var work = new DecodeWorkload(model, prompt, decode);
            foreach (int threads in threadCounts)
            {
                Workers.Threads = threads;
                var p = work.MeasurePrefill(reps);
                Row(output, $"{name} prefill {prompt}", threads, p, Rate(prompt, p.BestMilliseconds));
                var d = work.MeasureDecode(reps);
                double decodeRate = decode / d.BestMilliseconds * 1000;
                // Every weight is read once per decode step: weight bytes × tokens/s is the bandwidth the step achieved.
                Row(output, $"{name} decode ({decode} tokens)", threads, d, string.Format(CultureInfo.InvariantCulture,
                    "{0:0.0} tok/s, {1:0.0} GB/s of weights", decodeRate, model.Weights.Bytes / 1e9 * decodeRate));
            }
        }
    }

    private static void Row(TextWriter output, string name, int threads, WorkloadTiming t, string rate) =>
        output.WriteLine($"| {name} | {threads} | {Ms(t.BestMilliseconds)} | {Ms(t.MedianMilliseconds)} | {Ms(t.WorstMilliseconds)} | {rate} | {t.AllocatedBytesPerCall} |");

    private static string Rate(int tokens, double ms) => string.Format(CultureInfo.InvariantCulture, "{0:0} tok/s", tokens / ms * 1000);

    private static string Ms(double ms) => ms >= 1000
        ? string.Format(CultureInfo.InvariantCulture, "{0:0.00} s", ms / 1000)
        : string.Format(CultureInfo.InvariantCulture, "{0:0.###} ms", ms);

    /// <summary>"model name" of the first processor in /proc/cpuinfo (Linux), else the architecture.</summary>
    internal static string CpuModel()
    {
        try
        {
            if (File.Exists("/proc/cpuinfo"))
                foreach (var line in File.ReadLines("/proc/cpuinfo"))
                    if (line.StartsWith("model name", StringComparison.Ordinal) && line.IndexOf(':') is int colon and > 0)
                        return line[(colon + 1)..].Trim();
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        return System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture.ToString();
    }

    private static string SimdLevelName() =>
        System.Runtime.Intrinsics.Vector512.IsHardwareAccelerated ? "AVX-512 (Vector512)" :
        System.Runtime.Intrinsics.Vector256.IsHardwareAccelerated ? "Vector256" : "Vector128 or scalar";
}
