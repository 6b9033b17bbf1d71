using System.Text.Json;
using Qwen3Gen.Models;

namespace Qwen3Gen.Checkpoints;

/// <summary>
/// One name -> tensor view over a checkpoint that may be a single file or sharded:
/// <list type="bullet">
/// <item>a <c>.safetensors</c> file;</item>
/// <item>a <c>*.safetensors.index.json</c> file, whose <c>weight_map</c> maps each tensor name to a shard file in the same folder;</item>
/// <item>a folder holding <c>model.safetensors.index.json</c>, else <c>model.safetensors</c>, else exactly one <c>*.safetensors</c>.</item>
/// </list>
/// Every file is opened (memory-mapped) and validated up front, so a missing or damaged shard fails at open
/// time with its name, not halfway through a load.
/// </summary>
public sealed class CheckpointSource : IDisposable
{
    public const string SingleFileName = "model.safetensors";
    public const string IndexFileName = "model.safetensors.index.json";

    private readonly List<SafeTensorsFile> _files = new();
    private readonly Dictionary<string, SafeTensorsFile> _owner = new(StringComparer.Ordinal);

    private CheckpointSource(string path)
    {
        Path = System.IO.Path.GetFullPath(path);
    }

    /// <summary>The path opened (file, index or folder), made absolute.</summary>
    public string Path { get; }

    /// <summary>The index file when sharded, else null.</summary>
    public string? IndexPath { get; private set; }

    /// <summary>The safetensors files, in index order (shard order) or the single file.</summary>
    public IReadOnlyList<SafeTensorsFile> Files => _files;

    /// <summary>All tensor names across shards.</summary>
    public IEnumerable<string> Names => _owner.Keys;

    public int Count => _owner.Count;

    /// <summary>The metadata of the first file (HF writes the same <c>{"format": "pt"}</c> into every shard).</summary>
    public IReadOnlyDictionary<string, string> Metadata => _files.Count > 0 ? _files[0].Metadata : new Dictionary<string, string>();

    public static CheckpointSource Open(string path)
    {
        var source = new CheckpointSource(path);
        try
        {
            source.Resolve();
            return source;
        }
        catch
        {
            source.Dispose();
            throw;
        }
    }

    public bool Contains(string name) => _owner.ContainsKey(name);

    public bool TryGet(string name, out SafeTensorsFile file, out SafeTensorInfo info)
    {
        if (_owner.TryGetValue(name, out file!))
        {
            info = file.Tensors[name];
            return true;
        }
        info = null!;
        return false;
    }

    /// <summary>The file holding <paramref name="name"/> and its header entry, or an error naming the checkpoint.</summary>
    public (SafeTensorsFile File, SafeTensorInfo Info) Get(string name) =>
        TryGet(name, out var file, out var info) ? (file, info) : throw new KeyNotFoundException($"Checkpoint '{Path}' has no tensor '{name}'.");

    private void Resolve()
    {
        if (Directory.Exists(Path))
        {
            string index = System.IO.Path.Combine(Path, IndexFileName);
            string single = System.IO.Path.Combine(Path, SingleFileName);
            if (File.Exists(index)) { OpenIndex(index); return; }
            if (File.Exists(single)) { OpenSingle(single); return; }
            var indexes = Directory.GetFiles(Path, "*.safetensors.index.json");
            if (indexes.Length == 1) { OpenIndex(indexes[0]); return; }
            var files = Directory.GetFiles(Path, "*.safetensors");
            if (files.Length == 1 && indexes.Length == 0) { OpenSingle(files[0]); return; }
            throw new FileNotFoundException(
                $"Folder '{Path}' holds no checkpoint: expected '{IndexFileName}' or '{SingleFileName}' " +
                $"(found {indexes.Length} index files and {files.Length} .safetensors files).", index);
        }
        if (!File.Exists(Path)) throw new FileNotFoundException($"Checkpoint '{Path}' does not exist.", Path);
        if (Path.EndsWith(".index.json", StringComparison.OrdinalIgnoreCase)) OpenIndex(Path);
        else OpenSingle(Path);
    }

    private void OpenSingle(string file)
    {
        var opened = SafeTensorsFile.Open(file);
        _files.Add(opened);
        foreach (var name in opened.Tensors.Keys) _owner.Add(name, opened);
    }

    /// <summary>Reads <c>weight_map</c>, opens each shard once, and checks that every mapped tensor is in its shard.</summary>
    private void OpenIndex(string indexPath)
    {
        IndexPath = indexPath;
        string folder = System.IO.Path.GetDirectoryName(indexPath)!;
        var map = ReadWeightMap(indexPath);

        var shards = new Dictionary<string, SafeTensorsFile>(StringComparer.Ordinal);
        foreach (var shard in map.Values.Distinct(StringComparer.Ordinal))
        {
            string shardPath = System.IO.Path.Combine(folder, shard);
            if (!File.Exists(shardPath))
                throw new FileNotFoundException(
                    $"Shard '{shard}' listed in '{indexPath}' does not exist (looked for '{shardPath}').", shardPath);
            var opened = SafeTensorsFile.Open(shardPath);
            _files.Add(opened);
            shards.Add(shard, opened);
        }

        foreach (var (name, shard) in map)
        {
            var file = shards[shard];
            if (!file.Contains(name))
                throw new InvalidDataException($"'{indexPath}' maps tensor '{name}' to '{shard}', but that shard has no such tensor.");
            _owner.Add(name, file);
        }

        // Tensors a shard holds that the index does not list: included when unambiguous (loaders go by the
        // weight_map, but an extra tensor is worth reporting), an error when two shards disagree.
        foreach (var file in _files)
            foreach (var name in file.Tensors.Keys)
            {
                if (map.ContainsKey(name)) continue;
                if (_owner.TryGetValue(name, out var other))
                    throw new InvalidDataException(
                        $"Tensor '{name}' is in both '{other.Path}' and '{file.Path}' and '{indexPath}' does not say which to use.");
                _owner.Add(name, file);
            }
    }

    private static Dictionary<string, string> ReadWeightMap(string indexPath)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(RegularFiles.ReadAllBytes(indexPath, "checkpoint index"));
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"'{indexPath}' is not valid JSON: {e.Message}", e);
        }
        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("weight_map", out var weightMap)
                || weightMap.ValueKind != JsonValueKind.Object)
                throw new InvalidDataException($"'{indexPath}' has no 'weight_map' object.");
            var map = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var entry in weightMap.EnumerateObject())
            {
                if (entry.Value.ValueKind != JsonValueKind.String)
                    throw new InvalidDataException($"'{indexPath}': weight_map entry '{entry.Name}' must be a shard file name, found {entry.Value.ValueKind}.");
                string shard = entry.Value.GetString()!;
                // Shards are plain file names next to the index: no folders, no escaping the snapshot.
                if (shard.Length == 0 || shard != System.IO.Path.GetFileName(shard) || shard is "." or "..")
                    throw new InvalidDataException($"'{indexPath}': weight_map entry '{entry.Name}' names '{shard}', which is not a file name in the same folder.");
                if (!map.TryAdd(entry.Name, shard))
                    throw new InvalidDataException($"'{indexPath}': weight_map lists tensor '{entry.Name}' twice.");
            }
            if (map.Count == 0) throw new InvalidDataException($"'{indexPath}': weight_map is empty.");
            return map;
        }
    }

    public void Dispose()
    {
        foreach (var file in _files) file.Dispose();
        _files.Clear();
        _owner.Clear();
    }

    public override string ToString() => IndexPath is null ? Path : $"{IndexPath} ({_files.Count} shards)";
}
