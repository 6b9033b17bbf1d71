using System.Globalization;
using System.Text.Json;
using Qwen3Gen.Checkpoints;
using Qwen3Gen.Kernels;
using Qwen3Gen.Optim;
using Qwen3Gen.Models;

namespace Qwen3Gen.Training;

/// <summary>
/// A training checkpoint is a folder `checkpoint/` inside the run's output folder:
///   model.safetensors    the weights under Hugging Face names (F32): loadable by any safetensors reader and by ModelDirectory
///                        (a LoRA run: the base with the adapters merged, W₀ + s·B·A, computed while writing; the adapter
///                        files come with <see cref="ModelFiles"/>)
///   config.json          the Hugging Face config of the definition
///   trainer.safetensors  AdamW's m and v (flat, the model's layout), with the step, the sampler state and the options as metadata
///                        (a tensor-parallel run writes the same files, its slices gathered tensor by tensor: <see cref="Content"/>)
///   tokenizer files, generation_config.json  when the save is given <see cref="ModelFiles"/>: the folder is then a model
///                        that generate / chat / export load like a Hugging Face snapshot
/// A save writes a fresh temporary folder, fsyncs it and swaps it in by renames (<see cref="CheckpointFolders"/> gives
/// the protocol and the argument): a crash at any instant leaves checkpoint/ or checkpoint.old/ complete, and
/// <see cref="Find"/> picks the newest complete one.
/// </summary>
public static unsafe class TrainingCheckpoint
{
    public const string FolderName = "checkpoint";
    private const string Format = "qwen3gen-trainer-1";

    public static void Save(string outputDirectory, IQwen3Model model, AdamW optimizer, IBatchSampler sampler, TrainingOptions options,
        ModelFiles? files = null, CheckpointFileSystem? fileSystem = null, Lora.LoraAdapter? lora = null)
    {
        var content = new Content(model.Name, model.Config, optimizer.StepCount, sampler.State, options,
            metadata => CheckpointSaver.CreateWriter(model.Tensors, model.Weights, metadata,
                replace: lora is null ? null : tensor => lora.MergedTensor(tensor, model.Weights)),
            optimizer.M.Length, stream => WriteFlat(stream, optimizer.M), stream => WriteFlat(stream, optimizer.V));
        Save(outputDirectory, content, files, fileSystem);
    }

    /// <summary>
    /// What a checkpoint holds, wherever it is in memory (one model, or slices on the ranks of a tensor-parallel group that
    /// the callbacks gather while they write). <see cref="Weights"/> makes model.safetensors' writer, given its metadata;
    /// <see cref="WriteM"/> and <see cref="WriteV"/> write AdamW's moments, <see cref="Parameters"/> floats each, in the
    /// one-process flat layout (the definition's tensor table). trainer.safetensors asks for m, then v.
    /// </summary>
    public sealed record Content(string ModelName, ModelConfig Config, long Step, Sampling.RngState Sampler, TrainingOptions Options,
        Func<Dictionary<string, string>, SafeTensorsWriter> Weights, long Parameters, Action<Stream> WriteM, Action<Stream> WriteV);

    /// <summary>Saves <paramref name="content"/> as the checkpoint of <paramref name="outputDirectory"/>: model.safetensors, config.json, the files, trainer.safetensors, in that order.</summary>
    public static void Save(string outputDirectory, Content content, ModelFiles? files = null, CheckpointFileSystem? fileSystem = null)
    {
        var fs = fileSystem ?? CheckpointFileSystem.Real;
        string step = content.Step.ToString(CultureInfo.InvariantCulture);
        var state = content.Sampler;
        CheckpointFolders.Save(outputDirectory, FolderName, folder =>
        {
            var weights = content.Weights(new Dictionary<string, string> { ["format"] = "pt", ["qwen3gen.step"] = step, ["qwen3gen.model"] = content.ModelName });
            fs.WriteFile(Path.Combine(folder, "model.safetensors"), weights.WriteTo);
            fs.WriteFile(Path.Combine(folder, "config.json"), stream => stream.Write(System.Text.Encoding.UTF8.GetBytes(content.Config.ToHuggingFaceJson())));
            if (files is not null)
            {
                // ModelFiles writes with plain file calls; each file it adds is then flushed to the disk like ours.
                var before = Directory.GetFiles(folder).ToHashSet(StringComparer.Ordinal);
                files.WriteTo(folder);
                foreach (var file in Directory.GetFiles(folder).Where(f => !before.Contains(f)).Order(StringComparer.Ordinal)) fs.SyncFile(file);
            }

            var writer = new SafeTensorsWriter(new Dictionary<string, string>
            {
                ["format"] = Format,
                ["step"] = step,
                ["model"] = content.ModelName,
                ["sampler_state"] = string.Join(",", state.S0, state.S1, state.S2, state.S3),
                ["options"] = JsonSerializer.Serialize(content.Options),
            });
            writer.Add("optimizer.m", SafeTensorsDType.F32, [content.Parameters], content.WriteM);
            writer.Add("optimizer.v", SafeTensorsDType.F32, [content.Parameters], content.WriteV);
            fs.WriteFile(Path.Combine(folder, "trainer.safetensors"), writer.WriteTo);
        }, IsComplete, fs);
    }

    /// <summary>The checkpoint folder to resume from: checkpoint/, or checkpoint.old/ if a save was interrupted mid-swap; null if none.</summary>
    public static string? Find(string outputDirectory) => CheckpointFolders.Find(outputDirectory, FolderName, IsComplete);

    /// <summary>Removes what interrupted saves left in <paramref name="outputDirectory"/> (see <see cref="CheckpointFolders.CleanStrays"/>).</summary>
    public static IReadOnlyList<string> CleanStrays(string outputDirectory) => CheckpointFolders.CleanStrays(outputDirectory, FolderName);

    /// <summary>The step and the options a checkpoint folder was saved with (headers only: cheap).</summary>
    public static (long Step, TrainingOptions Options) ReadInfo(string folder)
    {
        using var trainer = SafeTensorsFile.Open(Path.Combine(folder, "trainer.safetensors"));
        string Meta(string key) => trainer.Metadata.TryGetValue(key, out var value) ? value
            : throw new InvalidDataException($"{trainer.Path}: metadata '{key}' is missing.");
        if (Meta("format") != Format) throw new InvalidDataException($"{trainer.Path}: format '{Meta("format")}' is not {Format}.");
        if (!long.TryParse(Meta("step"), NumberStyles.None, CultureInfo.InvariantCulture, out long step))
            throw new InvalidDataException($"{trainer.Path}: step '{Meta("step")}' is not a non-negative integer.");
        TrainingOptions? options;
        try { options = JsonSerializer.Deserialize<TrainingOptions>(Meta("options")); }
        catch (JsonException e) { throw new InvalidDataException($"{trainer.Path}: metadata 'options' is not valid: {e.Message}", e); }
        if (options is null) throw new InvalidDataException($"{trainer.Path}: metadata 'options' is null.");

        using (var weights = SafeTensorsFile.Open(Path.Combine(folder, "model.safetensors")))
            if (!weights.Metadata.TryGetValue("qwen3gen.step", out var weightStep) || weightStep != Meta("step"))
                throw new InvalidDataException($"{folder}: model.safetensors is from step {weightStep ?? "?"} but trainer.safetensors from step {step}.");
        string configPath = Path.Combine(folder, "config.json");
        ModelConfig.FromHuggingFaceJson(RegularFiles.ReadAllText(configPath), configPath);
        return (step, options);
    }

    /// <summary>A folder every file of which is present and whose headers agree (what a finished save leaves).</summary>
    public static bool IsComplete(string folder)
    {
        try
        {
            ReadInfo(folder);
            return true;
        }
        catch (Exception e) when (e is InvalidDataException or FileNotFoundException or DirectoryNotFoundException or NotSupportedException)
        {
            return false;
        }
    }

    /// <param name="loadWeights">False for a LoRA run: its model holds the frozen base, and the checkpoint's weights are merged ones.</param>
    public static void Load(string outputDirectory, IQwen3Model model, AdamW optimizer, IBatchSampler sampler, TrainingOptions options, bool loadWeights = true)
    {
        var (folder, step, state) = Check(outputDirectory, model.Config, model.Name, options);
        using var trainer = SafeTensorsFile.Open(Path.Combine(folder, "trainer.safetensors"));
        if (loadWeights) CheckpointLoader.Load(model, Path.Combine(folder, "model.safetensors"));
        ReadFlat(trainer, "optimizer.m", optimizer.M);
        ReadFlat(trainer, "optimizer.v", optimizer.V);
        optimizer.StepCount = step;
        sampler.State = state;
    }

    /// <summary>
    /// The complete checkpoint of <paramref name="outputDirectory"/> (<see cref="Find"/>), checked against the model's
    /// hyper-parameters and the run's options (only Steps may differ): its folder, step and sampler state. What a resume
    /// restores besides the tensors.
    /// </summary>
    public static (string Folder, long Step, Sampling.RngState Sampler) Check(string outputDirectory, ModelConfig modelConfig, string modelName, TrainingOptions options)
    {
        string folder = Find(outputDirectory) ?? throw new FileNotFoundException($"No complete training checkpoint in '{outputDirectory}' (expected {FolderName}/ with model.safetensors, config.json and trainer.safetensors).");
        var (step, saved) = ReadInfo(folder);
        string configPath = Path.Combine(folder, "config.json");
        var config = ModelConfig.FromHuggingFaceJson(RegularFiles.ReadAllText(configPath), configPath);
        var differences = modelConfig.Differences(config);
        if (differences.Count > 0)
            throw new InvalidDataException($"The checkpoint in '{folder}' is for other hyper-parameters than {modelName} (definition vs checkpoint): {string.Join("; ", differences)}.");
        var optionDifferences = OptionDifferences(saved, options);
        if (optionDifferences.Count > 0)
            throw new InvalidDataException($"The checkpoint was trained with other options (checkpoint vs now): {string.Join("; ", optionDifferences)}. Resume with the same options (only --steps may change).");

        using var trainer = SafeTensorsFile.Open(Path.Combine(folder, "trainer.safetensors"));
        var parts = trainer.Metadata.TryGetValue("sampler_state", out var text) ? text.Split(',') : [];
        var numbers = new ulong[4];
        if (parts.Length != 4 || !parts.Select((p, i) => ulong.TryParse(p, NumberStyles.None, CultureInfo.InvariantCulture, out numbers[i])).All(ok => ok))
            throw new InvalidDataException($"{trainer.Path}: sampler_state must be 4 non-negative integers.");
        return (folder, step, new Sampling.RngState(numbers[0], numbers[1], numbers[2], numbers[3]));
    }

    private static List<string> OptionDifferences(TrainingOptions saved, TrainingOptions now)
    {
        var result = new List<string>();
        foreach (var p in typeof(TrainingOptions).GetProperties())
        {
            if (p.Name == nameof(TrainingOptions.Steps)) continue;
            object? a = p.GetValue(saved), b = p.GetValue(now);
            if (!Equals(a, b)) result.Add($"{p.Name}: {a} vs {b}");
        }
        return result;
    }

    private static void WriteFlat(Stream stream, NativeBuffer<float> buffer)
    {
        const int chunk = 1 << 20;
        for (long start = 0; start < buffer.Length; start += chunk)
        {
            int n = (int)Math.Min(chunk, buffer.Length - start);
            stream.Write(System.Runtime.InteropServices.MemoryMarshal.AsBytes(buffer.Slice(start, n)));
        }
    }

    private static void ReadFlat(SafeTensorsFile file, string name, NativeBuffer<float> buffer)
    {
        if (!file.Tensors.TryGetValue(name, out var info))
            throw new InvalidDataException($"{file.Path}: tensor '{name}' is missing.");
        if (info.DType != SafeTensorsDType.F32 || info.ElementCount != buffer.Length)
            throw new InvalidDataException($"{file.Path}: '{name}' is {info.DType} with {info.ElementCount} elements; expected F32 with {buffer.Length}.");
        const int chunk = 1 << 20;
        for (long start = 0; start < buffer.Length; start += chunk)
            file.ReadF32(name, start, buffer.Slice(start, (int)Math.Min(chunk, buffer.Length - start)));
    }
}
