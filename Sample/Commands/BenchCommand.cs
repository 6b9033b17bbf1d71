using Qwen3Gen.Checkpoints;
using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Numerics.Tensors;
using Qwen3Gen.Inference;
using Qwen3Gen.Kernels;
using Qwen3Gen.Threading;
using Qwen3Gen.Models;

namespace Qwen3Gen.Sample.Commands;

/// <summary>
/// `qwen3gen bench generate`: prefill and decode tokens/s of a compiled definition (default Qwen3_0_6B) with random
/// weights, per weight format and thread count, with the process's working set. No checkpoint needed. The quantised
/// formats (q8_0, q4_0, q4_k_m, q5_k_m, q6_k) quantise the random weights in memory with llama-quantize's recipe;
/// `--model FILE.gguf` measures a file's own weights in their stored format (format `stored`, the default for a .gguf).
/// </summary>
internal static class BenchCommand
{
    public static Command Create()
    {
        var definition = new Option<string>("--definition") { Description = "Compiled definition to measure, dense or MoE (e.g. Qwen3ShakespeareMoe); refused when its weights exceed the available memory.", DefaultValueFactory = _ => "Qwen3_0_6B" };
        var formats = new Option<string?>("--formats") { Description = "Weight formats, comma-separated: bf16, f32, the quantised q8_0, q4_0, q4_k_m, q5_k_m, q6_k (random weights quantised in memory with llama-quantize's recipe, no file), or stored (a .gguf's own blocks, with --model). Default: bf16,f32; stored for a .gguf." };
        var threads = new Option<string>("--threads") { Description = "Thread counts, comma-separated.", DefaultValueFactory = _ => "1,2" };
        var prompt = new Option<int>("--prompt-tokens") { Description = "Prompt length for the prefill measurement.", DefaultValueFactory = _ => 128 }.AtLeast(1);
        var decode = new Option<int>("--decode-tokens") { Description = "Greedy decode steps measured.", DefaultValueFactory = _ => 32 }.AtLeast(1);
        var repeat = new Option<int>("--repeat") { Description = "Runs per setting; the best is reported, with the min / median / max decode rate beside it.", DefaultValueFactory = _ => 3 }.AtLeast(1);
        var modelDir = new Option<string?>("--model") { Description = "A model folder (Hugging Face snapshot or training checkpoint) or a .gguf file to measure with its own weights, instead of --definition with random ones." };
        var tensorParallel = new Option<int?>("--tensor-parallel") { Description = "Under `mpirun -np N`: the definition split across the N ranks (as `bench tensor-parallel`; one format, one thread count)." }.AtLeast(1);
        var generate = new Command("generate", "Prefill and decode tokens/s with random weights (F32 / BF16, 1 / 2 threads), and memory.")
            { definition, formats, threads, prompt, decode, repeat, modelDir, tensorParallel };
        generate.SetAction(parse =>
        {
            if (parse.GetValue(tensorParallel) is int ways)
                return RunTensorParallel(ways, parse.GetValue(definition)!, parse.GetValue(formats), parse.GetResult(threads) is { Implicit: false } ? parse.GetValue(threads)! : "1", parse.GetValue(prompt),
                                         parse.GetValue(decode), parse.GetValue(repeat), parse.GetValue(modelDir));
            return RunGenerate(parse.GetValue(definition)!, parse.GetValue(formats), parse.GetValue(threads)!,
                               parse.GetValue(prompt), parse.GetValue(decode), parse.GetValue(repeat), Console.Out, Console.Error,
                               parse.GetValue(modelDir));
        });
        var quick = new Option<bool>("--quick") { Description = "Small shapes and fewer repetitions only (under a minute)." };
        var tableThreads = new Option<string>("--threads") { Description = "Thread counts, comma-separated.", DefaultValueFactory = _ => "1,2" };
        var bench = new Command("bench", "The performance table (matmul, training steps, prefill/decode; best, median and worst of the repetitions); `bench generate`: any definition's tokens/s.")
            { generate, BenchBatchCommand.Create(), ContextBench.Create(), BenchAllReduceCommand.Create(), BenchTensorParallelCommand.Create(), quick, tableThreads };
        bench.SetAction(parse => RunTable(parse.GetValue(quick), parse.GetValue(tableThreads)!, Console.Out, Console.Error));
        return bench;
    }

    /// <summary>`bench generate --tensor-parallel N`: <see cref="BenchTensorParallelCommand"/> with this command's options (one format, one thread count, random weights).</summary>
    private static int RunTensorParallel(int ways, string definition, string? formats, string threads, int prompt, int decode, int repeat, string? modelDir)
    {
        string? problem = modelDir is not null ? "--model: the tensor-parallel bench uses random weights of --definition"
            : formats is not null && formats.Contains(',') ? $"--formats '{formats}': give one format (bf16 or f32) with --tensor-parallel"
            : threads.Contains(',') ? $"--threads '{threads}': give one thread count per rank with --tensor-parallel"
            : !int.TryParse(threads, System.Globalization.CultureInfo.InvariantCulture, out int t) || t < 1 ? $"--threads '{threads}' is not a thread count"
            : ways != (int.TryParse(Environment.GetEnvironmentVariable("OMPI_COMM_WORLD_SIZE"), out int n) ? n : 1)
                ? $"--tensor-parallel {ways} needs `mpirun -np {ways}` (each rank holds 1/N of the model)"
            : null;
        if (problem is not null)
        {
            Console.Error.WriteLine($"bench: error: {problem}.");
            return 1;
        }
        return BenchTensorParallelCommand.Run(definition, formats ?? "bf16", int.Parse(threads, System.Globalization.CultureInfo.InvariantCulture),
                                              prompt, decode, repeat, Console.Out, Console.Error);
    }

    public static int RunTable(bool quick, string threadList, TextWriter output, TextWriter error)
    {
        int[] threadCounts;
        try
        {
            threadCounts = threadList.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                .Select(t => int.Parse(t, CultureInfo.InvariantCulture)).ToArray();
        }
        catch (Exception e) when (e is FormatException or OverflowException)
        {
            error.WriteLine($"bench: error: --threads '{threadList}': {e.Message} (e.g. 1,2)");
            return 1;
        }
        if (threadCounts.Length == 0 || threadCounts.Any(t => t < 1))
        {
            error.WriteLine($"bench: error: --threads '{threadList}': give thread counts of at least 1, e.g. 1,2.");
            return 1;
        }
        return BenchTable.Run(quick, threadCounts, output);
    }

    /// <summary>The quantised bench formats and the llama-quantize recipe each stands for.</summary>
    private static readonly Dictionary<string, GgufRecipe> QuantFormats = new()
    {
        ["q8_0"] = GgufRecipe.Q8_0, ["q4_0"] = GgufRecipe.Q4_0, ["q4_k_m"] = GgufRecipe.Q4_K_M,
        ["q5_k_m"] = GgufRecipe.Q5_K_M, ["q6_k"] = GgufRecipe.Q6_K,
    };

    public static int RunGenerate(string name, string? formatList, string threadList, int promptTokens, int decodeTokens, int repeat,
                                  TextWriter output, TextWriter error, string? modelDir = null)
    {
        ModelLoading.RegisterDefinitions();
        bool gguf = modelDir is not null && GgufFile.IsGgufPath(modelDir);
        formatList ??= gguf ? "stored" : "bf16,f32";
        if (modelDir is not null)
        {
            try
            {
                name = gguf
                    ? ModelDirectory.FindDefinition(GgufConfigOf(modelDir), Path.GetFullPath(modelDir)).Name
                    : ModelDirectory.FindDefinition(ModelDirectory.ReadConfig(modelDir), Path.GetFullPath(modelDir)).Name;
            }
            catch (Exception e) when (ModelLoading.IsUserError(e))
            {
                error.WriteLine($"bench: error: {e.Message}");
                return 1;
            }
        }
        var definition = ModelCatalog.Find(name);
        if (definition is null)
        {
            error.WriteLine($"bench: error: no compiled definition '{name}'. Known: {string.Join(", ", ModelCatalog.All.Select(d => d.Name))}.");
            return 1;
        }
        string[] fmts;
        int[] threadCounts;
        try
        {
            fmts = formatList.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(f => f.ToLowerInvariant()).ToArray();
            foreach (var f in fmts)
                if (f is not ("bf16" or "f32" or "stored") && !QuantFormats.ContainsKey(f)) throw new ArgumentException($"unknown format '{f}'");
            if (modelDir is not null && fmts.Any(QuantFormats.ContainsKey))
                throw new ArgumentException("the q* rows quantise random weights; with --model give stored (a .gguf's own blocks), bf16 or f32");
            if (fmts.Contains("stored") && !gguf)
                throw new ArgumentException("stored measures a .gguf file's own blocks: give --model FILE.gguf");
            threadCounts = threadList.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                .Select(t => int.Parse(t, CultureInfo.InvariantCulture)).ToArray();
        }
        catch (Exception e) when (e is ArgumentException or FormatException or OverflowException)
        {
            error.WriteLine($"bench: error: {e.Message} (formats: bf16,f32,q8_0,q4_0,q4_k_m,q5_k_m,q6_k, stored with --model FILE.gguf; threads: e.g. 1,2)");
            return 1;
        }
        if (promptTokens < 1 || decodeTokens < 1 || repeat < 1 || threadCounts.Any(t => t < 1))
        {
            error.WriteLine("bench: error: --prompt-tokens, --decode-tokens, --repeat and every thread count must be at least 1.");
            return 1;
        }

        // Every format is checked before anything is allocated (Qwen3_30B_A3B in BF16 is 61 GB of weights).
        long available = MemoryBudget.AvailableBytes();
        foreach (var format in fmts.Where(f => f is "bf16" or "f32").Select(f => Enum.Parse<WeightFormat>(f, ignoreCase: true)))
            if (MemoryBudget.Shortfall(definition.Name, definition.Config, format, available) is string shortfall)
            {
                error.WriteLine($"bench: error: {shortfall}");
                return 1;
            }

        var c = CultureInfo.InvariantCulture;
        var cfg = definition.Config;
        output.WriteLine(string.Format(c, "bench generate: {0}{9} ({1}), prompt {2} tokens, {3} decode steps, best of {4}; {5} cores, {6}, .NET {7}, {8:yyyy-MM-dd}",
            definition.Name, cfg, promptTokens, decodeTokens, repeat, Environment.ProcessorCount,
            System.Runtime.InteropServices.RuntimeInformation.OSDescription, Environment.Version, DateTime.UtcNow,
            modelDir is null ? " with random weights" : $" from {Path.GetFullPath(modelDir)}"));
        if (fmts.Any(f => f == "stored" || QuantFormats.ContainsKey(f)))
            output.WriteLine($"int8 kernels: {Quantization.QuantMatMul.PathName}");
        output.WriteLine("| format | threads | init s | prefill tok/s | decode tok/s | decode min / median / max | weights GB | weight GB/s | working set GB | peak GB |");
        output.WriteLine("|---|---|---|---|---|---|---|---|---|---|");
        int savedThreads = Workers.Threads;
        try
        {
            foreach (var format in fmts)
            {
                long t0 = Stopwatch.GetTimestamp();
                Workers.Threads = Environment.ProcessorCount;
                GgufRecipe? quant = QuantFormats.TryGetValue(format, out var recipe) ? recipe : null;
                var weightFormat = format == "stored" ? WeightFormat.Quantized : quant is null ? Enum.Parse<WeightFormat>(format, ignoreCase: true) : WeightFormat.Quantized;
                using var loaded = modelDir is null ? null : ModelDirectory.Load(modelDir, weightFormat);
                using var random = modelDir is not null ? null
                    : quant is GgufRecipe q ? QuantizedRandom(definition, q, seed: 1) : definition.Create(weightFormat);
                var model = loaded?.Model ?? random!;
                if (random is not null && quant is null) FastRandom(random, seed: 1);
                string label = format == "stored" ? $"stored ({StoredTypes(loaded!)})" : format.ToUpperInvariant();
                double init = Stopwatch.GetElapsedTime(t0).TotalSeconds;
                int context = Math.Min(cfg.MaxPositions, promptTokens + decodeTokens + 1);
                using var session = model.CreateSession(context);
                var prompt = new int[promptTokens];
                var rng = new Random(7);
                for (int i = 0; i < prompt.Length; i++) prompt[i] = rng.Next(cfg.Vocab);

                // Warm-up: JIT and first touch of every page of the weights.
                session.Prefill(prompt.AsSpan(0, Math.Min(8, prompt.Length)));
                session.Decode(0);
                foreach (int threads in threadCounts)
                {
                    Workers.Threads = threads;
                    double bestPrefill = 0, bestDecode = 0;
                    var decodes = new List<double>();
                    for (int r = 0; r < repeat; r++)
                    {
                        session.Rewind(0);
                        long p0 = Stopwatch.GetTimestamp();
                        var logits = session.Prefill(prompt);
                        double prefill = promptTokens / Stopwatch.GetElapsedTime(p0).TotalSeconds;
                        int next = TensorPrimitives.IndexOfMax(logits);
                        long d0 = Stopwatch.GetTimestamp();
                        for (int i = 0; i < decodeTokens; i++)
                            next = TensorPrimitives.IndexOfMax(session.Decode(next));
                        double decode = decodeTokens / Stopwatch.GetElapsedTime(d0).TotalSeconds;
                        bestPrefill = Math.Max(bestPrefill, prefill);
                        bestDecode = Math.Max(bestDecode, decode);
                        decodes.Add(decode);
                    }
                    decodes.Sort();
                    double median = decodes.Count % 2 == 1 ? decodes[decodes.Count / 2] : (decodes[decodes.Count / 2 - 1] + decodes[decodes.Count / 2]) / 2;
                    double gb = model.Weights.Bytes / 1e9;
                    using var process = Process.GetCurrentProcess();
                    output.WriteLine(string.Format(c, "| {0} | {1} | {2:0.0} | {3:0.0} | {4:0.00} | {5:0.00} / {6:0.00} / {7:0.00} | {8:0.000} | {9:0.0} | {10:0.00} | {11:0.00} |",
                        label, threads, init, bestPrefill, bestDecode, decodes[0], median, decodes[^1], gb, gb * bestDecode, process.WorkingSet64 / 1e9, process.PeakWorkingSet64 / 1e9));
                    // One machine-readable line per row (for side-by-side scripts): weight bytes × decode tok/s = weight GB/s read.
                    output.WriteLine(string.Format(c, "BENCH definition={0} format={1} threads={2} prompt={3} prefill_tok_s={4:0.00} decode_tok_s={5:0.000} decode_min={9:0.000} decode_median={10:0.000} decode_max={5:0.000} weights_gb={6:0.000} weight_gb_s={7:0.00} peak_gb={8:0.000}",
                        definition.Name, format, threads, promptTokens, bestPrefill, bestDecode, gb, gb * bestDecode, process.PeakWorkingSet64 / 1e9, decodes[0], median));
                    output.Flush();
                }
            }
        }
        finally { Workers.Threads = savedThreads; }
        output.WriteLine("weight GB/s = bytes of weight matrices × best decode tok/s (each decode step reads every matrix once; an untied embedding table is counted though a step reads one row of it).");
        output.WriteLine("peak = the process's peak working set so far (formats run in the order given: put the smaller first).");
        return 0;
    }

    /// <summary>The definition a .gguf file's metadata matches (as <c>ModelDirectory.Load</c> maps it).</summary>
    private static ModelConfig GgufConfigOf(string path)
    {
        using var file = GgufFile.Open(path);
        return GgufConfig.Read(file);
    }

    /// <summary>The GGML types of a loaded .gguf's matrices, most bytes first (e.g. "Q4_K 71%, Q6_K 29%").</summary>
    private static string StoredTypes(LoadedModel loaded)
    {
        var byType = loaded.Gguf!.TensorList.Where(t => t.Ne.Length >= 2).GroupBy(t => t.Type)
            .Select(g => (Type: g.Key, Bytes: g.Sum(t => t.RowBytes * t.Rows))).OrderByDescending(x => x.Bytes).ToList();
        double total = byType.Sum(x => (double)x.Bytes);
        return string.Join(", ", byType.Select(x => string.Format(CultureInfo.InvariantCulture, "{0} {1:0}%", x.Type, 100 * x.Bytes / total)));
    }

    /// <summary>
    /// A model of <paramref name="definition"/> with random matrices quantised in memory with
    /// <paramref name="recipe"/> (llama-quantize's type per tensor, <see cref="GgufExport.TypeFor"/>; no file, no float32
    /// copy of the model): each matrix is drawn chunk by chunk as <see cref="FastRandom"/> draws it and quantised with
    /// GGML's reference quantiser into its own block buffer; norms are 1.
    /// </summary>
    public static unsafe IQwen3Model QuantizedRandom(ModelDefinition definition, GgufRecipe recipe, ulong seed)
    {
        if (definition.FromWeights is not { } factory || definition.TensorTable is not { } tensors)
            throw new NotSupportedException($"{definition.Name} has no weights factory.");
        var matrices = new Dictionary<long, WeightMatrix>();
        var buffers = new List<NativeBuffer<byte>>();
        long bytes = 0;
        const float Scale = 0.02f * 1.7320508f;
        var cfg = definition.Config;
        foreach (var t in tensors.Where(t => t.Offset < definition.VectorStart))
        {
            if (matrices.ContainsKey(t.Offset)) continue;
            var gguf = GgufNames.ToGguf(t.Name) ?? throw new InvalidDataException($"Tensor '{t.Name}' has no GGUF name.");
            long[] ne = t.Shape.Reverse().Select(d => (long)d).ToArray();
            var type = GgufExport.TypeFor(recipe, gguf.Name, ne, cfg.TieEmbeddings, cfg.Layers, cfg.IsMoe ? cfg.Experts : 0);
            if (type == GgmlType.F32) throw new NotSupportedException($"{definition.Name}: {t.Name} has rows of {ne[0]}, not whole blocks of 32: no quantised bench row.");
            var format = Quantization.MatrixRows.FromGgml(type)!.Value;
            long size = GgmlTypes.RowBytes(type, t.Length);
            var buffer = new NativeBuffer<byte>(size);
            buffers.Add(buffer);
            const int Chunk = 1 << 16;
            Parallel.For(0, (int)((t.Length + Chunk - 1) / Chunk), () => new float[Chunk], (i, _, values) =>
            {
                long start = (long)i * Chunk;
                int n = (int)Math.Min(Chunk, t.Length - start);
                ulong x = seed * 0x9E3779B97F4A7C15UL ^ (ulong)(t.Offset + start) * 0xBF58476D1CE4E5B9UL | 1;
                for (int j = 0; j < n; j++)
                {
                    x ^= x << 13; x ^= x >> 7; x ^= x << 17;
                    values[j] = Scale * ((x >> 40) * (2f / (1 << 24)) - 1f);
                }
                fixed (float* v = values) Quantization.Quantize.Row(type, v, buffer.Pointer + GgmlTypes.RowBytes(type, start), n);
                return values;
            }, _ => { });
            matrices[t.Offset] = new WeightMatrix(buffer.Pointer, format);
            bytes += size;
        }
        var weights = Weights.CreateMapped(definition.ParameterCount, definition.VectorStart, matrices, bytes, new Buffers(buffers));
        var model = factory(weights);
        foreach (var t in tensors.Where(t => t.Offset >= definition.VectorStart))
        {
            var ones = new float[t.Length];
            Array.Fill(ones, 1f);
            weights.Set(t, ones);
        }
        return model;
    }

    private sealed class Buffers(List<NativeBuffer<byte>> items) : IDisposable
    {
        public void Dispose()
        {
            foreach (var b in items) b.Dispose();
        }
    }

    /// <summary>
    /// Random weights fast enough for 0.75 B parameters: matrices uniform in ±0.02·√3 (standard deviation 0.02, as
    /// HF's init) from a per-chunk xorshift stream, norms 1. Chunks are filled in parallel; the values depend only on
    /// the seed, the tensor and the chunk (not on the thread count). Speed, not statistics, is the point here.
    /// </summary>
    public static void FastRandom(IQwen3Model model, ulong seed)
    {
        const int Chunk = 1 << 16;
        var chunks = new List<(TensorSpec Tensor, long Start, int Count)>();
        foreach (var t in model.Tensors)
            for (long s = 0; s < t.Length; s += Chunk)
                chunks.Add((t, s, (int)Math.Min(Chunk, t.Length - s)));
        const float Scale = 0.02f * 1.7320508f;
        Parallel.For(0, chunks.Count, () => new float[Chunk], (i, _, buffer) =>
        {
            var (t, start, n) = chunks[i];
            var values = buffer.AsSpan(0, n);
            if (!t.IsMatrix) values.Fill(1f);
            else
            {
                ulong x = seed * 0x9E3779B97F4A7C15UL ^ (ulong)(t.Offset + start) * 0xBF58476D1CE4E5B9UL | 1;
                for (int j = 0; j < n; j++)
                {
                    x ^= x << 13; x ^= x >> 7; x ^= x << 17;              // xorshift64
                    values[j] = Scale * ((x >> 40) * (2f / (1 << 24)) - 1f); // top 24 bits -> [-1, 1)
                }
            }
            model.Weights.Set(new TensorSpec(t.Name, [n], t.Offset + start), values);
            return buffer;
        }, _ => { });
    }
}
