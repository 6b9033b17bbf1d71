using System.Text;
using Qwen3Gen.Checkpoints;
using Qwen3Gen.Models;

namespace Qwen3Gen.Inference;

/// <summary>A model loaded from a Hugging Face snapshot directory. Disposing it frees the weights.</summary>
/// <param name="Model">The generated model, weights filled.</param>
/// <param name="Definition">The compiled definition whose hyper-parameters equal config.json's.</param>
/// <param name="Config">config.json as read (equal to <c>Definition.Config</c> in every field that defines the computation).</param>
/// <param name="Directory">The snapshot directory, absolute.</param>
/// <param name="Report">What the checkpoint loader read (files, tensors per dtype, unused tensors).</param>
/// <param name="Generation">generation_config.json, or the defaults when the snapshot has none.</param>
public sealed record LoadedModel(
    IQwen3Model Model,
    ModelDefinition Definition,
    ModelConfig Config,
    string Directory,
    LoadReport Report,
    GenerationConfig Generation) : IDisposable
{
    /// <summary>How the matrices are held in memory.</summary>
    public WeightFormat Format => Model.Weights.Format;

    /// <summary>The GGUF file the model came from (kept open: its metadata holds the tokenizer), or null for a snapshot directory.</summary>
    public GgufFile? Gguf { get; init; }

    /// <summary>The tokenizer: from the GGUF metadata for a .gguf file, else the directory's own (<see cref="Tokenization.TokenizerFolder.Load"/>).</summary>
    public Tokenization.ITokenizer LoadTokenizer() =>
        Gguf is not null ? Tokenization.Qwen3Tokenizer.FromGguf(Gguf.Metadata) : Tokenization.TokenizerFolder.Load(Directory);

    /// <summary>The tokenizer files of the directory (paths only; nothing is read).</summary>
    public TokenizerFiles TokenizerFiles => new(Directory);

    public bool HasTokenizerFiles => TokenizerFiles.Complete;

    /// <summary>Throws <see cref="FileNotFoundException"/> naming each missing tokenizer file.</summary>
    public TokenizerFiles RequireTokenizerFiles() => TokenizerFiles.Require();

    public void Dispose()
    {
        Model.Dispose();
        Gguf?.Dispose();
    }

    /// <summary>"Qwen3_0_6B (BF16, 1.19 GB) from DIR" and the loader's report.</summary>
    public override string ToString() =>
        $"{Definition.Name} ({Format}, {Model.Weights.Bytes / 1e9:0.00} GB of weights) from {Gguf?.Path ?? Directory}\n{Report}";
}

/// <summary>
/// Loads a Hugging Face snapshot directory (what <c>hf download Qwen/Qwen3-0.6B --local-dir DIR</c> leaves):
/// config.json → the registered definition with equal hyper-parameters (<see cref="ModelCatalog.Match"/>) →
/// its weights from model.safetensors or the shards of model.safetensors.index.json → generation_config.json.
/// Every problem is an exception whose message names the directory, the file and what to do.
/// </summary>
public static class ModelDirectory
{
    /// <summary>
    /// Loads the snapshot in <paramref name="directory"/>. <paramref name="format"/> defaults to BF16 when every
    /// matrix of the checkpoint is stored BF16 (Hub checkpoints: no float32 copy that would double the memory),
    /// else F32 (F32 or F16 checkpoints keep their values exactly).
    /// </summary>
    /// <exception cref="DirectoryNotFoundException">No such directory.</exception>
    /// <exception cref="FileNotFoundException">config.json, a shard or the checkpoint is missing.</exception>
    /// <exception cref="InvalidDataException">config.json is malformed or matches no definition; a safetensors file is damaged or does not fit the model.</exception>
    /// <exception cref="NotSupportedException">config.json asks for something no generated model implements (sliding window, RoPE scaling).</exception>
    /// <exception cref="InsufficientMemoryException">The weights in the chosen format need more than the memory available (<see cref="MemoryBudget"/>).</exception>
    public static LoadedModel Load(string directory, WeightFormat? format = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        if (GgufFile.IsGgufPath(directory) && !System.IO.Directory.Exists(directory)) return LoadGguf(directory, format);
        string dir = CheckDirectory(directory);
        var config = ReadConfig(dir);
        var definition = FindDefinition(config, dir);
        var generation = ReadGenerationConfig(dir, config);

        CheckpointSource source;
        try { source = CheckpointSource.Open(dir); }
        catch (FileNotFoundException e) { throw new FileNotFoundException($"Model directory '{dir}': {e.Message}", e.FileName, e); }
        catch (InvalidDataException e) { throw new InvalidDataException($"Model directory '{dir}': {e.Message}", e); }
        using (source)
        {
            var chosen = format ?? DefaultFormat(source);
            // Refuse before allocating: a checkpoint bigger than the free memory would otherwise end in the OOM killer.
            if (MemoryBudget.Shortfall(definition.Name, definition.Config, chosen, MemoryBudget.AvailableBytes()) is string shortfall)
                throw new InsufficientMemoryException($"Model directory '{dir}': {shortfall}");
            var model = definition.Create(chosen);
            try
            {
                model.RopeScaling = config.RopeScaling;       // config.json's rope_scaling (YaRN for 128k), whatever the definition says
                var report = CheckpointLoader.Load(model, source);
                return new LoadedModel(model, definition, config, dir, report, generation);
            }
            catch (InvalidDataException e)
            {
                model.Dispose();
                throw new InvalidDataException($"Model directory '{dir}' (definition {definition.Name}): {e.Message}", e);
            }
            catch
            {
                model.Dispose();
                throw;
            }
        }
    }

    /// <summary>
    /// Loads a GGUF file (<c>qwen3</c> or <c>qwen3moe</c>): its metadata → the compiled definition with equal
    /// hyper-parameters (<see cref="GgufConfig"/>), GGUF tensor names → HF keys (<see cref="GgufNames"/>), each
    /// tensor dequantised exactly into F32 weights (default) or rounded to BF16. The tokenizer comes from the file's
    /// metadata (<see cref="LoadedModel.LoadTokenizer"/>).
    /// </summary>
    public static LoadedModel LoadGguf(string path, WeightFormat? format = null)
    {
        var file = GgufFile.Open(path);
        try
        {
            var config = GgufConfig.Read(file);
            var definition = ModelCatalog.Match(config) ?? throw new InvalidDataException(NoMatchMessage(config, file.Path));
            var chosen = format ?? WeightFormat.Quantized;
            var generation = GenerationConfig.DefaultFor(config.Vocab);
            string dir = Path.GetDirectoryName(file.Path)!;
            if (chosen == WeightFormat.Quantized)
            {
                // The matrices stay in the mapped file; the definition wraps weights that own it.
                if (definition.FromWeights is not { } factory || definition.TensorTable is not { } tensors)
                    throw new NotSupportedException($"Definition {definition.Name} was compiled without a weights factory; rebuild it with this Qwen3Gen.");
                var (weights, report) = GgufLoader.LoadMapped(tensors, definition.ParameterCount, definition.VectorStart, file);
                try { return new LoadedModel(factory(weights), definition, config, dir, report, generation) { Gguf = file }; }
                catch
                {
                    weights.Dispose();
                    throw;
                }
            }
            if (MemoryBudget.Shortfall(definition.Name, definition.Config, chosen, MemoryBudget.AvailableBytes()) is string shortfall)
                throw new InsufficientMemoryException($"'{file.Path}': {shortfall}");
            var model = definition.Create(chosen);
            try
            {
                var report = GgufLoader.Load(model.Tensors, model.Weights, file);
                return new LoadedModel(model, definition, config, dir, report, generation) { Gguf = file };
            }
            catch (InvalidDataException e)
            {
                model.Dispose();
                throw new InvalidDataException($"'{file.Path}' (definition {definition.Name}): {e.Message}", e);
            }
            catch
            {
                model.Dispose();
                throw;
            }
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    /// <summary>Reads and checks <c>config.json</c> of <paramref name="directory"/> (no weights are touched).</summary>
    public static ModelConfig ReadConfig(string directory)
    {
        string dir = CheckDirectory(directory);
        string path = Path.Combine(dir, HuggingFaceConfig.FileName);
        if (!File.Exists(path))
            throw new FileNotFoundException(
                $"Model directory '{dir}' has no {HuggingFaceConfig.FileName}: a Hugging Face snapshot holds config.json, " +
                "model.safetensors (or model-0000i-of-0000n.safetensors + model.safetensors.index.json) and the tokenizer files.", path);
        string json = RegularFiles.ReadAllText(path, "config file");
        try
        {
            var config = ModelConfig.FromHuggingFaceJson(json, path);
            HuggingFaceConfig.CheckSupported(json, path);
            return config;
        }
        catch (InvalidDataException e) { throw new InvalidDataException($"Model directory '{dir}': {e.Message}", e); }
        catch (InvalidOperationException e) { throw new InvalidDataException($"Model directory '{dir}': {path} has a field of the wrong type: {e.Message}", e); }
        catch (FormatException e) { throw new InvalidDataException($"Model directory '{dir}': {path} has a number out of range: {e.Message}", e); }
    }

    /// <summary>
    /// The compiled definition whose hyper-parameters equal <paramref name="config"/>'s. Throws
    /// <see cref="InvalidDataException"/> naming the closest definition, each differing field, and how to add one.
    /// </summary>
    public static ModelDefinition FindDefinition(ModelConfig config, string? directory = null)
    {
        return ModelCatalog.Match(config) ?? throw new InvalidDataException(NoMatchMessage(config, directory));
    }

    /// <summary>generation_config.json of <paramref name="directory"/>, or <see cref="GenerationConfig.DefaultFor"/> the vocabulary.</summary>
    public static GenerationConfig ReadGenerationConfig(string directory, ModelConfig config)
    {
        string dir = CheckDirectory(directory);
        string path = Path.Combine(dir, GenerationConfig.FileName);
        if (!File.Exists(path)) return GenerationConfig.DefaultFor(config.Vocab);
        // transformers falls back to config.json's eos_token_id when generation_config.json has none.
        int[]? fallbackEos = null;
        try
        {
            using var doc = System.Text.Json.JsonDocument.Parse(RegularFiles.ReadAllText(Path.Combine(dir, HuggingFaceConfig.FileName), "config file"));
            fallbackEos = GenerationConfig.ReadIds(doc.RootElement, "eos_token_id", HuggingFaceConfig.FileName);
        }
        catch (Exception e) when (e is IOException or System.Text.Json.JsonException or InvalidDataException) { }
        try { return GenerationConfig.FromJson(RegularFiles.ReadAllText(path, "generation config"), path, fallbackEos, config.Vocab); }
        catch (InvalidDataException e) { throw new InvalidDataException($"Model directory '{dir}': {e.Message}", e); }
    }

    /// <summary>The tokenizer files of <paramref name="directory"/> (paths only).</summary>
    public static TokenizerFiles Tokenizer(string directory) => new(CheckDirectory(directory));

    /// <summary>BF16 when every matrix (ndim ≥ 2) of the checkpoint is BF16, else F32.</summary>
    public static WeightFormat DefaultFormat(CheckpointSource source)
    {
        ArgumentNullException.ThrowIfNull(source);
        bool any = false;
        foreach (var name in source.Names)
        {
            var (_, info) = source.Get(name);
            if (info.Shape.Length < 2) continue;
            if (info.DType != SafeTensorsDType.BF16) return WeightFormat.F32;
            any = true;
        }
        return any ? WeightFormat.BF16 : WeightFormat.F32;
    }

    /// <summary>The error for a config.json that no compiled definition matches.</summary>
    public static string NoMatchMessage(ModelConfig config, string? directory)
    {
        bool gguf = directory is not null && GgufFile.IsGgufPath(directory);
        string where = directory is null ? "config.json" : gguf ? $"'{directory}' (its GGUF metadata)" : $"'{Path.Combine(directory, HuggingFaceConfig.FileName)}'";
        var sb = new StringBuilder();
        sb.Append($"{where} matches no compiled model definition ({config}).");
        var (closest, differences) = ModelCatalog.Closest(config);
        if (closest is null)
            sb.Append("\nNo definitions are registered: register the [Qwen3Model] classes first, e.g. ModelCatalog.Register(Qwen3_0_6B.Definition) or ModelCatalog.Register(Qwen3Gen.Definitions.CompiledDefinitions.All).");
        else
        {
            sb.Append($"\nClosest: {closest.Name}, which differs in {differences.Count} field{(differences.Count == 1 ? "" : "s")} ({closest.Name} vs config.json):");
            foreach (var d in differences) sb.Append("\n  ").Append(d);
        }
        string className = ClassNameFor(gguf ? Path.GetFileNameWithoutExtension(directory) : directory);
        string source = directory is null || gguf ? "config.json" : Path.Combine(directory, HuggingFaceConfig.FileName);
        string projectPath = $"Configs/{className}/config.json";
        if (gguf) sb.Append($"\nTo add one, write this config.json into your project as {projectPath}:\n  ")
                    .Append(config.ToHuggingFaceJson().Replace("\n", "\n  ", StringComparison.Ordinal))
                    .Append("\nand declare a partial class that reads it at build time:");
        else sb.Append($"\nTo add one, copy {source} into your project as {projectPath} and declare a partial class that reads it at build time:");
        sb.Append($"\n  [Qwen3Model(Config = \"{projectPath}\")]\n  public partial class {className};");
        sb.Append("\nwith <AdditionalFiles Include=\"Configs/**/config.json\" /> in the .csproj; or write the values inline:");
        sb.Append("\n  ").Append(HuggingFaceConfig.AttributeText(config).Replace("\n", "\n  ", StringComparison.Ordinal));
        sb.Append($"\n  public partial class {className};");
        sb.Append("\nThen rebuild: the generator compiles the class and registers it, and this directory loads into it.");
        return sb.ToString();
    }

    /// <summary>"Qwen3-0.6B" → "Qwen3_0_6B": a C# class name from the snapshot folder's name.</summary>
    internal static string ClassNameFor(string? directory)
    {
        string name = directory is null ? "" : Path.GetFileName(Path.TrimEndingDirectorySeparator(directory));
        var sb = new StringBuilder();
        foreach (char c in name) sb.Append(char.IsAsciiLetterOrDigit(c) || c == '_' ? c : '_');
        string id = sb.ToString().Trim('_');
        if (id.Length == 0 || !char.IsAsciiLetterOrDigit(id[0]) || char.IsAsciiDigit(id[0])) id = "MyQwen3" + (id.Length > 0 ? "_" + id : "");
        return id;
    }

    private static string CheckDirectory(string directory)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        string dir = Path.GetFullPath(directory);
        if (File.Exists(dir))
            throw new DirectoryNotFoundException($"'{dir}' is a file; pass the snapshot directory that holds config.json and the safetensors files.");
        if (!System.IO.Directory.Exists(dir))
            throw new DirectoryNotFoundException($"Model directory '{dir}' does not exist.");
        return dir;
    }
}
