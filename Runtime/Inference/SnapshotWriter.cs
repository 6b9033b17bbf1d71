using System.Text;
using Qwen3Gen.Checkpoints;
using Qwen3Gen.Models;

namespace Qwen3Gen.Inference;

/// <summary>
/// Writes a model as a Hugging Face snapshot folder that looks exactly like <c>hf download</c> output (so tests run through
/// the same loading path as a real checkpoint): the weights (one file or shards with an index), config.json,
/// generation_config.json and the tokenizer files (<see cref="SnapshotExport"/> builds on it).
/// </summary>
public static class SnapshotWriter
{
    /// <summary>
    /// Writes <paramref name="model"/> as a Hugging Face snapshot into <paramref name="directory"/> (created if needed):
    /// config.json, the weights as <c>model.safetensors</c> (<paramref name="shards"/> = 1) or as
    /// <c>model-0000i-of-0000n.safetensors</c> + <c>model.safetensors.index.json</c>, generation_config.json when
    /// <paramref name="generation"/> is given, and the tokenizer files found in <paramref name="tokenizerDirectory"/>.
    /// Tensors are split across shards in table order, a new shard starting once the current one holds its share of the bytes;
    /// with <paramref name="maxShardBytes"/> &gt; 0 the count follows from the size instead, as transformers' save_pretrained
    /// (max_shard_size): a new shard starts when the next tensor would take the current one past the limit.
    /// </summary>
    public static void Save(IQwen3Model model, string directory,
        SafeTensorsDType dtype = SafeTensorsDType.BF16, int shards = 1,
        GenerationConfig? generation = null, string? tokenizerDirectory = null, long maxShardBytes = 0)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentException.ThrowIfNullOrEmpty(directory);
        if (dtype is not (SafeTensorsDType.BF16 or SafeTensorsDType.F32))
            throw new ArgumentException($"Snapshots are written in BF16 or F32, not {dtype}.", nameof(dtype));
        var tensors = model.Tensors;
        List<TensorSpec>[]? bySize = maxShardBytes > 0 ? SplitBySize(tensors, maxShardBytes, dtype.Size()) : null;
        if (bySize is not null) shards = bySize.Length;
        if (shards < 1 || shards > tensors.Count)
            throw new ArgumentOutOfRangeException(nameof(shards), shards, $"Between 1 and the model's {tensors.Count} tensors.");
        Directory.CreateDirectory(directory);
        var stale = Directory.GetFiles(directory, "*.safetensors").Concat(Directory.GetFiles(directory, "*.safetensors.index.json")).ToArray();
        if (stale.Length > 0)
            throw new IOException($"'{directory}' already holds a checkpoint ({Path.GetFileName(stale[0])}); write snapshots into an empty folder.");
        string[] tokenizerFiles = [];
        if (tokenizerDirectory is not null)
        {
            tokenizerFiles = TokenizerFiles.AllNames.Select(n => Path.Combine(tokenizerDirectory, n)).Where(File.Exists).ToArray();
            if (tokenizerFiles.Length == 0)
                throw new FileNotFoundException($"'{tokenizerDirectory}' holds none of the tokenizer files {string.Join(", ", TokenizerFiles.AllNames)}.", tokenizerDirectory);
        }

        var metadata = new Dictionary<string, string> { ["format"] = "pt" };
        if (shards == 1)
        {
            CheckpointSaver.Save(tensors, model.Weights, Path.Combine(directory, CheckpointSource.SingleFileName), metadata, dtype);
        }
        else
        {
            var groups = bySize ?? Split(tensors, shards, dtype.Size());
            var weightMap = new SortedDictionary<string, string>(StringComparer.Ordinal);
            for (int s = 0; s < shards; s++)
            {
                string file = $"model-{s + 1:D5}-of-{shards:D5}.safetensors";
                CheckpointSaver.Save(groups[s], model.Weights, Path.Combine(directory, file), metadata, dtype);
                foreach (var t in groups[s]) weightMap[t.Name] = file;
            }
            long totalSize = tensors.Sum(t => t.Length) * dtype.Size();
            AtomicFile.Write(Path.Combine(directory, CheckpointSource.IndexFileName),
                stream => stream.Write(Encoding.UTF8.GetBytes(IndexJson(totalSize, weightMap))));
        }

        string torchDtype = dtype == SafeTensorsDType.BF16 ? "bfloat16" : "float32";
        WriteText(Path.Combine(directory, HuggingFaceConfig.FileName), HuggingFaceConfig.ToJson(model.Config, torchDtype));
        if (generation is not null) WriteText(Path.Combine(directory, GenerationConfig.FileName), generation.ToJson());
        foreach (var file in tokenizerFiles) File.Copy(file, Path.Combine(directory, Path.GetFileName(file)), overwrite: true);
    }

    /// <summary>Contiguous runs of the tensor table, each closing once it reaches total/shards bytes; none empty.</summary>
    private static List<TensorSpec>[] Split(IReadOnlyList<TensorSpec> tensors, int shards, int elementSize)
    {
        long total = tensors.Sum(t => t.Length) * elementSize;
        long share = (total + shards - 1) / shards;
        var groups = Enumerable.Range(0, shards).Select(_ => new List<TensorSpec>()).ToArray();
        int s = 0;
        long inShard = 0;
        for (int i = 0; i < tensors.Count; i++)
        {
            // Move on when this shard has its share, or when the tensors left are just enough to give each later shard one.
            int shardsLeft = shards - 1 - s;
            if (groups[s].Count > 0 && shardsLeft > 0 && (inShard >= share || tensors.Count - i <= shardsLeft))
            {
                s++;
                inShard = 0;
            }
            groups[s].Add(tensors[i]);
            inShard += tensors[i].Length * elementSize;
        }
        return groups;
    }

    /// <summary>Contiguous runs of the tensor table of at most <paramref name="maxBytes"/> each (a larger tensor gets a shard of its own).</summary>
    private static List<TensorSpec>[] SplitBySize(IReadOnlyList<TensorSpec> tensors, long maxBytes, int elementSize)
    {
        var groups = new List<List<TensorSpec>> { new() };
        long inShard = 0;
        foreach (var t in tensors)
        {
            long bytes = t.Length * elementSize;
            if (groups[^1].Count > 0 && inShard + bytes > maxBytes)
            {
                groups.Add([]);
                inShard = 0;
            }
            groups[^1].Add(t);
            inShard += bytes;
        }
        return groups.ToArray();
    }

    private static string IndexJson(long totalSize, SortedDictionary<string, string> weightMap)
    {
        var sb = new StringBuilder();
        sb.Append("{\n  \"metadata\": {\n    \"total_size\": ").Append(totalSize).Append("\n  },\n  \"weight_map\": {\n");
        int i = 0;
        foreach (var (name, file) in weightMap)
            sb.Append("    \"").Append(name).Append("\": \"").Append(file).Append('"').Append(++i < weightMap.Count ? ",\n" : "\n");
        sb.Append("  }\n}\n");
        return sb.ToString();
    }

    private static void WriteText(string path, string text) =>
        AtomicFile.Write(path, stream => stream.Write(Encoding.UTF8.GetBytes(text)));
}
