using System.CommandLine;
using System.Globalization;
using Qwen3Gen.Models;

namespace Qwen3Gen.Sample.Commands;

/// <summary>`qwen3gen info [MODEL]`: the compiled definitions, or one definition's summary.</summary>
internal static class InfoCommand
{
    public static Command Create()
    {
        var model = new Argument<string?>("model") { Description = "A definition name (see the list) or a model folder (snapshot, training checkpoint); none lists them all.", Arity = ArgumentArity.ZeroOrOne };
        var command = new Command("info", "List the compiled model definitions, or summarise one (parameters, shapes, memory).") { model };
        command.SetAction(parse => Run(parse.GetValue(model)));
        return command;
    }

    public static int Run(string? name)
    {
        if (name is null) return List();
        ModelDefinition definition;
        string? folder = Directory.Exists(name) ? Path.GetFullPath(name) : null;
        try
        {
            if (folder is null) definition = Catalog.Find(name);
            else
            {
                ModelLoading.RegisterDefinitions();
                definition = Inference.ModelDirectory.FindDefinition(Inference.ModelDirectory.ReadConfig(folder), folder);
            }
        }
        catch (Exception e) when (ModelLoading.IsUserError(e)) { Console.Error.WriteLine($"info: {e.Message}"); return 2; }

        var c = definition.Config;
        var (parameters, vectors) = Count(c);
        Console.WriteLine($"{definition.Name}: {(c.IsMoe ? "Qwen3-MoE" : "Qwen3 dense")}, {parameters:N0} parameters ({Short(parameters)})");
        Console.WriteLine($"  layers {c.Layers}, hidden {c.Hidden}, heads {c.Heads} query / {c.KvHeads} KV of {c.HeadDim}, " +
                          (c.IsMoe ? $"{c.Experts} experts ({c.ExpertsPerToken} per token) of FFN {c.ExpertFfn}" : $"FFN {c.Ffn}"));
        Console.WriteLine($"  vocabulary {c.Vocab:N0}, {(c.TieEmbeddings ? "tied" : "separate")} LM head, RoPE θ {c.RopeTheta.ToString(CultureInfo.InvariantCulture)}, " +
                          $"max positions {c.MaxPositions:N0}, RMSNorm ε {c.RmsNormEps.ToString(CultureInfo.InvariantCulture)}");
        Console.WriteLine($"  weights: {Bytes(parameters * 4)} in F32, {Bytes((parameters - vectors) * 2 + vectors * 4)} in BF16 (norm vectors stay F32)");
        Console.WriteLine($"  KV cache: {Bytes(2L * c.Layers * c.KvHeads * c.HeadDim * 4)} per position (F32)");
        DescribeSplits(c);
        if (folder is not null) DescribeFolder(folder);
        return 0;
    }

    /// <summary>
    /// Per rank under `--tensor-parallel N` (docs/distributed.md): the largest rank's weights in BF16 (matrices BF16, norm
    /// vectors F32), the replicated part of them, and the rank's KV cache per position; or why N cannot split the model.
    /// </summary>
    private static void DescribeSplits(ModelConfig c)
    {
        foreach (int ways in TensorParallel.TensorSplit.SupportedWays.Where(n => n > 1))
        {
            if (TensorParallel.TensorSplit.Problem(c, ways) is { } problem)
            {
                Console.WriteLine($"  tensor-parallel {ways}: no ({problem})");
                continue;
            }
            var splits = Enumerable.Range(0, ways).Select(r => new TensorParallel.TensorSplit(c, ways, r)).ToArray();
            long Bf16(TensorParallel.TensorSplit s) => s.Tensors.Sum(t => t.Local.Length * (t.Local.IsMatrix ? 2 : 4));
            var largest = splits.MaxBy(Bf16)!;
            long replicated = largest.Tensors.Where(t => t.Kind == TensorParallel.SplitKind.Replicated).Sum(t => t.Local.Length * (t.Local.IsMatrix ? 2 : 4));
            Console.WriteLine($"  tensor-parallel {ways}: {Bytes(Bf16(largest))} of BF16 weights per rank ({Bytes(replicated)} of it replicated), " +
                              $"KV cache {Bytes(2L * c.Layers * largest.KvHeads * c.HeadDim * 4)} per position (F32)");
        }
    }

    /// <summary>What a model folder holds besides its definition: tokenizer, weight files, training step.</summary>
    private static void DescribeFolder(string folder)
    {
        var tokenizer = Inference.ModelDirectory.Tokenizer(folder);
        string kind = Tokenization.TokenizerFolder.IsByteLevel(folder) ? "byte-level (id = byte)"
            : tokenizer.Complete ? "Qwen3 tokenizer files" : "incomplete: missing " + string.Join(" and ", tokenizer.Missing());
        Console.WriteLine($"  folder {folder}: tokenizer {kind}; generation_config.json {(File.Exists(Path.Combine(folder, Inference.GenerationConfig.FileName)) ? "present" : "absent (defaults)")}");
        var weights = Directory.GetFiles(folder, "*.safetensors").Select(Path.GetFileName).Where(n => n != "trainer.safetensors").Order(StringComparer.Ordinal).ToArray();
        Console.WriteLine($"  weights: {string.Join(", ", weights)} ({Bytes(weights.Sum(n => new FileInfo(Path.Combine(folder, n!)).Length))})");
        string trainer = Path.Combine(folder, "trainer.safetensors");
        if (File.Exists(trainer))
        {
            using var file = Checkpoints.SafeTensorsFile.Open(trainer);
            Console.WriteLine($"  training checkpoint at step {(file.Metadata.TryGetValue("step", out var step) ? step : "?")} (optimizer state in trainer.safetensors; `qwen3gen export` writes a snapshot without it)");
        }
    }

    private static int List()
    {
        const string format = "{0,-18} {1,-9} {2,6} {3,6} {4,8} {5,8} {6,10} {7,11} {8,11}";
        Console.WriteLine(format, "Definition", "Kind", "Layers", "Hidden", "Heads/KV", "Vocab", "Parameters", "F32", "BF16");
        foreach (var d in Catalog.All)
        {
            var c = d.Config;
            var (p, v) = Count(c);
            Console.WriteLine(format, d.Name, c.IsMoe ? $"MoE {c.Experts}/{c.ExpertsPerToken}" : "dense", c.Layers, c.Hidden,
                              $"{c.Heads}/{c.KvHeads}", c.Vocab, Short(p), Bytes(p * 4), Bytes((p - v) * 2 + v * 4));
        }
        Console.WriteLine("`qwen3gen info MODEL` for one; `qwen3gen train --model MODEL` to train it.");
        return 0;
    }

    /// <summary>
    /// Parameters from the hyper-parameters (the generated layout holds the same tensors): embedding V·H; per layer
    /// q, k, v, o projections H·(Hq + 2·Hkv + Hq)·D, q/k norms 2·D, two RMSNorms 2·H, and the MLP (dense 3·H·F;
    /// MoE router E·H + E·3·H·F_e, dense 3·H·F on mlp-only layers); final norm H; an untied LM head V·H.
    /// Returns the total and the part in 1-D vectors (norm weights).
    /// </summary>
    internal static (long Total, long Vectors) Count(ModelConfig c)
    {
        long h = c.Hidden, d = c.HeadDim;
        long attention = h * (2L * c.Heads + 2L * c.KvHeads) * d;
        long vectors = c.Layers * (2 * d + 2 * h) + h;
        long mlp = 0;
        for (int layer = 0; layer < c.Layers; layer++)
            mlp += c.IsSparse(layer) ? c.Experts * h + 3L * c.Experts * h * c.ExpertFfn : 3L * h * c.Ffn;
        long total = (long)c.Vocab * h * (c.TieEmbeddings ? 1 : 2) + c.Layers * attention + mlp + vectors;
        return (total, vectors);
    }

    private static string Short(long n) => n >= 1_000_000_000 ? $"{n / 1e9:F2}B" : n >= 1_000_000 ? $"{n / 1e6:F1}M" : $"{n / 1e3:F0}K";

    private static string Bytes(long b) => b >= 1L << 30 ? $"{b / (double)(1L << 30):F2} GiB" : b >= 1 << 20 ? $"{b / (double)(1 << 20):F1} MiB" : $"{b / 1024.0:F0} KiB";
}
