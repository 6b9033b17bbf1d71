using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Numerics.Tensors;
using System.Text.Json;
using Qwen3Gen.Kernels;
using Qwen3Gen.Threading;
using Qwen3Gen.Models;

namespace Qwen3Gen.Sample.Commands;

/// <summary>
/// `qwen3gen bench context`: decode tokens/s at context depths (default 0, 4k, 16k, 32k) and the prefill tokens/s of a
/// 4k prompt, per KV cache format, with random weights (like llama-bench -d). The context is filled by real prefill (not
/// timed beyond the first prompt), so a depth of 32k costs a 32k-token prefill per format. Besides the table it prints
/// one JSON line per row (prefix "BENCH ") for side-by-side comparison scripts.
/// </summary>
internal static class ContextBench
{
    public static Command Create()
    {
        var definition = new Option<string>("--definition") { Description = "Compiled definition (random weights).", DefaultValueFactory = _ => "Qwen3_0_6B" };
        var caches = new Option<string>("--cache-types") { Description = "KV cache formats, comma-separated (f32, bf16, f16, q8_0).", DefaultValueFactory = _ => "f32,bf16,q8_0" };
        var depths = new Option<string>("--depths") { Description = "Context depths for the decode rows, comma-separated, ascending.", DefaultValueFactory = _ => "0,4096,16384,32768" };
        var threads = new Option<int>("--threads") { Description = "Threads.", DefaultValueFactory = _ => 2 };
        var prompt = new Option<int>("--prompt-tokens") { Description = "Prompt of the prefill row (from position 0).", DefaultValueFactory = _ => 4096 };
        var decode = new Option<int>("--decode-tokens") { Description = "Decode steps timed at each depth.", DefaultValueFactory = _ => 16 };
        var chunk = new Option<int>("--chunk") { Description = "Prefill chunk (tokens per forward pass).", DefaultValueFactory = _ => 512 };
        var weights = new Option<string>("--format") { Description = "Weight format (bf16 or f32).", DefaultValueFactory = _ => "bf16" };
        var command = new Command("context", "Long-context decode tok/s at depths and 4k-prompt prefill tok/s per KV cache format, with memory.")
            { definition, caches, depths, threads, prompt, decode, chunk, weights };
        command.SetAction(parse => Run(parse.GetValue(definition)!, parse.GetValue(caches)!, parse.GetValue(depths)!, parse.GetValue(threads),
                                       parse.GetValue(prompt), parse.GetValue(decode), parse.GetValue(chunk), parse.GetValue(weights)!,
                                       Console.Out, Console.Error));
        return command;
    }

    public static int Run(string name, string cacheList, string depthList, int threads, int promptTokens, int decodeTokens, int chunk,
                          string weightFormat, TextWriter output, TextWriter error)
    {
        ModelLoading.RegisterDefinitions();
        var definition = ModelCatalog.Find(name);
        if (definition is null)
        {
            error.WriteLine($"bench context: error: no compiled definition '{name}'.");
            return 1;
        }
        var formats = new List<KvCacheFormat>();
        foreach (var item in cacheList.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (KvCacheFormats.Parse(item) is not KvCacheFormat f) { error.WriteLine($"bench context: error: --cache-types: '{item}' is not one of f32, bf16, f16, q8_0."); return 1; }
            formats.Add(f);
        }
        int[] depthValues;
        try { depthValues = depthList.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(d => int.Parse(d, CultureInfo.InvariantCulture)).ToArray(); }
        catch (Exception e) when (e is FormatException or OverflowException) { error.WriteLine($"bench context: error: --depths: {e.Message}"); return 1; }
        if (!Enum.TryParse<WeightFormat>(weightFormat, ignoreCase: true, out var format)) { error.WriteLine($"bench context: error: --format '{weightFormat}' is not bf16 or f32."); return 1; }
        if (formats.Count == 0 || depthValues.Length == 0 || depthValues.Any(d => d < 0) || !depthValues.SequenceEqual(depthValues.Order())
            || threads < 1 || promptTokens < 1 || decodeTokens < 1 || chunk < 1)
        {
            error.WriteLine("bench context: error: give at least one cache type and ascending depths ≥ 0; threads, prompt, decode and chunk must be at least 1.");
            return 1;
        }
        var cfg = definition.Config;
        using var model = definition.Create(format);
        int capacity = Math.Max(depthValues[^1], promptTokens) + decodeTokens + 1;
        if (capacity > model.PositionLimit)
        {
            error.WriteLine($"bench context: error: depth {depthValues[^1]} + {decodeTokens} decode steps exceed {name}'s {model.PositionLimit} positions.");
            return 1;
        }
        BenchCommand.FastRandom(model, seed: 1);
        var c = CultureInfo.InvariantCulture;
        output.WriteLine(string.Format(c, "bench context: {0} ({1} weights, random), {2} threads, {3} cores, .NET {4}, {5:yyyy-MM-dd HH:mm} UTC",
            name, format, threads, Environment.ProcessorCount, Environment.Version, DateTime.UtcNow));
        output.WriteLine("| cache | row | depth | tok/s | cache MiB | working set GB |");
        output.WriteLine("|---|---|---|---|---|---|");
        var tokens = new int[capacity];
        var rng = new Random(7);
        for (int i = 0; i < tokens.Length; i++) tokens[i] = rng.Next(cfg.Vocab);
        int saved = Workers.Threads;
        Workers.Threads = threads;
        try
        {
            foreach (var cache in formats)
            {
                double cacheMiB = cache.BytesPerPosition(cfg.KvHeads, cfg.HeadDim) * (double)cfg.Layers * capacity / (1 << 20);
                using var session = model.CreateSession(capacity, chunk, cache);
                session.Prefill(tokens.AsSpan(0, 8));                               // warm-up: JIT and first touch of the weights
                session.Decode(tokens[8]);
                session.Rewind(0);
                void Row(string row, int depth, double rate)
                {
                    using var process = Process.GetCurrentProcess();
                    double ws = process.WorkingSet64 / 1e9;
                    output.WriteLine(string.Format(c, "| {0} | {1} | {2} | {3:0.0} | {4:0.0} | {5:0.00} |", cache.Name(), row, depth, rate, cacheMiB, ws));
                    output.WriteLine("BENCH " + JsonSerializer.Serialize(new
                    {
                        bench = "context", definition = name, weights = format.ToString().ToLowerInvariant(), cache = cache.Name(), threads,
                        row, depth, tokens_per_s = Math.Round(rate, 2), cache_mib = Math.Round(cacheMiB, 1), working_set_gb = Math.Round(ws, 3),
                        peak_working_set_gb = Math.Round(process.PeakWorkingSet64 / 1e9, 3),
                    }));
                    output.Flush();
                }
                double DecodeAt(int depth)
                {
                    if (session.Position < depth) session.Prefill(tokens.AsSpan(session.Position, depth - session.Position));   // fill, untimed
                    int next = tokens[depth];
                    long t0 = Stopwatch.GetTimestamp();
                    for (int i = 0; i < decodeTokens; i++) next = TensorPrimitives.IndexOfMax(session.Decode(next));
                    double rate = decodeTokens / Stopwatch.GetElapsedTime(t0).TotalSeconds;
                    session.Rewind(depth);
                    return rate;
                }
                bool prefilled = false;
                foreach (int depth in depthValues)
                {
                    if (!prefilled && depth >= promptTokens)
                    {
                        session.Rewind(0);
                        long p0 = Stopwatch.GetTimestamp();
                        session.Prefill(tokens.AsSpan(0, promptTokens));
                        Row("prefill", promptTokens, promptTokens / Stopwatch.GetElapsedTime(p0).TotalSeconds);
                        prefilled = true;
                    }
                    Row("decode", depth, DecodeAt(depth));
                }
                if (!prefilled)
                {
                    session.Rewind(0);
                    long p0 = Stopwatch.GetTimestamp();
                    session.Prefill(tokens.AsSpan(0, promptTokens));
                    Row("prefill", promptTokens, promptTokens / Stopwatch.GetElapsedTime(p0).TotalSeconds);
                }
            }
        }
        finally { Workers.Threads = saved; }
        output.WriteLine("cache MiB: keys and values of every layer for the session's capacity; working set: the process after the row.");
        return 0;
    }
}
