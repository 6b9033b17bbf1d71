using System.Diagnostics;
using System.Globalization;
using Qwen3Gen.Definitions;
using Qwen3Gen.Diagnostics;
using Qwen3Gen.Threading;

namespace Qwen3Gen.Sample.Commands;

/// <summary>
/// `qwen3gen bench`: the performance table of the speed issue on this machine: matrix-product GFLOP/s on the model
/// shapes, training-step time of the nanoGPT-size and full-vocabulary models, and Qwen3-0.6B-shape prefill and decode
/// tokens/s (random weights), each beside the reference figures measured on the issue's machine (PyTorch 1.13,
/// llama.cpp) as a ratio. Best of N (the machine may be shared: the best run is the least disturbed one).
/// --quick: small shapes and fewer repetitions only (under a minute).
/// </summary>
internal static class BenchTable
{
    // Reference figures of issue 7 (same 2-core machine): PyTorch 1.13 training steps, llama.cpp (no mmap, 2 threads).
    private const double TorchSmallStepMs = 52, TorchFullStepMs = 2300;
    private const double LlamaDecodeF32 = 20, LlamaDecodeBF16 = 34, LlamaPrefillF32 = 220, LlamaPrefillBF16 = 385;

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
            output.WriteLine("| workload | threads | time | rate | reference | ratio | alloc B/call |");
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
                    Row(output, $"matmul {name}", threads, t, string.Format(c, "{0:0.0} GFLOP/s{1}", gflops, extra), "", "");
                }
            }

            // ---- training steps ----
            Train(output, "train step Qwen3Shakespeare B12 T64", Qwen3Shakespeare.Create(), 12, 64, reps * 3, threadCounts, TorchSmallStepMs);
            if (!quick) Train(output, "train step Qwen3FullVocab B4 T256", Qwen3FullVocab.Create(), 4, 256, 3, threadCounts, TorchFullStepMs);

            // ---- inference ----
            if (quick)
                Infer(output, "Qwen3Shakespeare", Qwen3Shakespeare.Create(WeightFormat.F32), 64, 16, reps, threadCounts, 0, 0);
            else
            {
                Infer(output, "Qwen3-0.6B BF16", Qwen3_0_6B.Create(WeightFormat.BF16), 128, 16, 3, threadCounts, LlamaPrefillBF16, LlamaDecodeBF16);
                Infer(output, "Qwen3-0.6B F32", Qwen3_0_6B.Create(WeightFormat.F32), 128, 16, 3, threadCounts, LlamaPrefillF32, LlamaDecodeF32);
            }
            using var process = Process.GetCurrentProcess();
            output.WriteLine();
            output.WriteLine(string.Format(c, "peak memory (working set): {0:0.00} GB. ratio = reference time / ours (> 1: faster than the reference); " +
                "references: PyTorch 1.13 training steps, llama.cpp prefill/decode (2 threads), measured on the issue's 2-core AVX-512 machine.",
                process.PeakWorkingSet64 / 1e9));
            return 0;
        }
        finally { Workers.Threads = saved; }
    }

    private static void Train(TextWriter output, string name, IQwen3Model model, int batch, int seqLen, int reps, int[] threadCounts, double referenceMs)
    {
        using (model)
        {
            WeightInit.Normal(model, 1);
            using var work = new TrainingStepWorkload(model, batch, seqLen);
            foreach (int threads in threadCounts)
            {
                Workers.Threads = threads;
                var t = work.Measure(reps);
                Row(output, name, threads, t, Rate(work.Tokens, t.BestMilliseconds), $"PyTorch {Ms(referenceMs)}", Ratio(referenceMs / t.BestMilliseconds));
            }
        }
    }

    private static void Infer(TextWriter output, string name, IQwen3Model model, int prompt, int decode, int reps, int[] threadCounts,
                              double prefillReference, double decodeReference)
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
                double prefillRate = prompt / p.BestMilliseconds * 1000;
                Row(output, $"{name} prefill {prompt}", threads, p, Rate(prompt, p.BestMilliseconds),
                    prefillReference > 0 ? $"llama.cpp {prefillReference} tok/s" : "", prefillReference > 0 ? Ratio(prefillRate / prefillReference) : "");
                var d = work.MeasureDecode(reps);
                double decodeRate = decode / d.BestMilliseconds * 1000;
                Row(output, $"{name} decode ({decode} tokens)", threads, d, string.Format(CultureInfo.InvariantCulture, "{0:0.0} tok/s", decodeRate),
                    decodeReference > 0 ? $"llama.cpp {decodeReference} tok/s" : "", decodeReference > 0 ? Ratio(decodeRate / decodeReference) : "");
            }
        }
    }

    private static void Row(TextWriter output, string name, int threads, WorkloadTiming t, string rate, string reference, string ratio) =>
        output.WriteLine($"| {name} | {threads} | {Ms(t.BestMilliseconds)} | {rate} | {reference} | {ratio} | {t.AllocatedBytesPerCall} |");

    private static string Rate(int tokens, double ms) => string.Format(CultureInfo.InvariantCulture, "{0:0} tok/s", tokens / ms * 1000);

    private static string Ratio(double r) => string.Format(CultureInfo.InvariantCulture, "{0:0.00}×", r);

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
