using System.CommandLine;
using System.Globalization;
using Qwen3Gen.Checkpoints;
using Qwen3Gen.Inference;

namespace Qwen3Gen.Sample.Commands;

/// <summary>
/// `qwen3gen export --model RUN/checkpoint --out DIR [--dtype f32|bf16] [--max-shard-size 5GB]`: a Hugging Face snapshot of
/// a trained model (or of any model folder) without the optimizer state: config.json, safetensors (sharded past the size,
/// with model.safetensors.index.json), generation_config.json, tokenizer files.
/// </summary>
internal static class ExportCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model", "-m") { Description = "Model folder: a training checkpoint (runs/NAME/checkpoint) or a snapshot.", Required = true };
        var output = new Option<string>("--out", "-o") { Description = "Folder for the snapshot (created; must hold no safetensors yet).", Required = true };
        var dtype = new Option<string>("--dtype") { Description = "Weight type of the files: f32 (exact) or bf16 (half the size, rounded to nearest even).", DefaultValueFactory = _ => "f32" };
        dtype.AcceptOnlyFromAmong("f32", "bf16");
        var shard = new Option<string>("--max-shard-size") { Description = "Largest weight file, e.g. 5GB, 500MB or a byte count; bigger models are sharded.", DefaultValueFactory = _ => "5GB" };
        var adapter = new Option<string?>("--merge-adapter") { Description = "A LoRA adapter folder (PEFT format) to merge into the weights before writing." };
        var command = new Command("export", "Write a model folder (e.g. a training checkpoint) as a Hugging Face snapshot without optimizer state.")
            { model, output, dtype, shard, adapter };
        command.SetAction(parse => Run(parse.GetValue(model)!, parse.GetValue(output)!, parse.GetValue(dtype)!, parse.GetValue(shard)!, Console.Out, Console.Error,
                                       parse.GetValue(adapter)));
        return command;
    }

    public static int Run(string model, string output, string dtype, string maxShardSize, TextWriter stdout, TextWriter error, string? mergeAdapter = null)
    {
        try
        {
            var type = dtype.ToLowerInvariant() switch
            {
                "f32" => SafeTensorsDType.F32,
                "bf16" => SafeTensorsDType.BF16,
                _ => throw new ArgumentException($"--dtype '{dtype}' is not one of: f32, bf16."),
            };
            long maxShard = ParseSize(maxShardSize);
            ModelLoading.RegisterDefinitions();
            var report = SnapshotExport.Export(model, output, type, maxShard, mergeAdapter);
            stdout.WriteLine($"Exported {report.Definition} to {report.Directory}: {string.Join(", ", report.WeightFiles)} " +
                             $"({report.WeightBytes / 1e6:0.0} MB of {dtype.ToUpperInvariant()} weights), config.json, generation_config.json, tokenizer files.");
            return 0;
        }
        catch (Exception e) when (ModelLoading.IsUserError(e))
        {
            ModelLoading.Fail("export", e, error);
            return 1;
        }
    }

    /// <summary>"5GB", "500MB", "64KB" (decimal units, as transformers' max_shard_size) or a plain byte count.</summary>
    public static long ParseSize(string text)
    {
        string t = text.Trim().ToUpperInvariant();
        (string suffix, long unit)[] units = [("GB", 1_000_000_000), ("MB", 1_000_000), ("KB", 1_000), ("B", 1)];
        foreach (var (suffix, unit) in units)
        {
            if (!t.EndsWith(suffix, StringComparison.Ordinal)) continue;
            if (double.TryParse(t[..^suffix.Length], NumberStyles.Float, CultureInfo.InvariantCulture, out double v) && v > 0 && v * unit < long.MaxValue)
                return (long)(v * unit);
            break;
        }
        if (long.TryParse(t, NumberStyles.None, CultureInfo.InvariantCulture, out long bytes) && bytes > 0) return bytes;
        throw new ArgumentException($"--max-shard-size '{text}' is not a size: give e.g. 5GB, 500MB or a byte count.");
    }
}
