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
        var fs = fileSystem ?? CheckpointFileSystem.Real;
        string step = optimizer.StepCount.ToString(CultureInfo.InvariantCulture);
        var state = sampler.State;
        CheckpointFolders.Save(outputDirectory, FolderName, folder =>
        {
            var weights = CheckpointSaver.CreateWriter(model.Tensors, model.Weights,
                new Dictionary<string, string> { ["format"] = "pt", ["qwen3gen.step"] = step, ["qwen3gen.model"] = model.Name },
                replace: lora is null ? null : tensor => lora.MergedTensor(tensor, model.Weights));
            fs.WriteFile(Path.Combine(folder, "model.safetensors"), weights.WriteTo);
            fs.WriteFile(Path.Combine(folder, "config.json"), stream => stream.Write(System.Text.Encoding.UTF8.GetBytes(model.Config.ToHuggingFaceJson())));
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
                ["model"] = model.Name,
                ["sampler_state"] = string.Join(",", state.S0, state.S1, state.S2, state.S3),
                ["options"] = JsonSerializer.Serialize(options),
            });
            AddFlat(writer, "optimizer.m", optimizer.M);
            AddFlat(writer, "optimizer.v", optimizer.V);
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
        string folder = Find(outputDirectory) ?? throw new FileNotFoundException($"No complete training checkpoint in '{outputDirectory}' (expected {FolderName}/ with model.safetensors, config.json and trainer.safetensors).");
        var (step, saved) = ReadInfo(folder);
        string configPath = Path.Combine(folder, "config.json");
        var config = ModelConfig.FromHuggingFaceJson(RegularFiles.ReadAllText(configPath), configPath);
        var differences = model.Config.Differences(config);
        if (differences.Count > 0)
            throw new InvalidDataException($"The checkpoint in '{folder}' is for other hyper-parameters than {model.Name} (definition vs checkpoint): {string.Join("; ", differences)}.");
        var optionDifferences = OptionDifferences(saved, options);
        if (optionDifferences.Count > 0)
            throw new InvalidDataException($"The checkpoint was trained with other options (checkpoint vs now): {string.Join("; ", optionDifferences)}. Resume with the same options (only --steps may change).");

        using var trainer = SafeTensorsFile.Open(Path.Combine(folder, "trainer.safetensors"));
        if (loadWeights) CheckpointLoader.Load(model, Path.Combine(folder, "model.safetensors"));
        ReadFlat(trainer, "optimizer.m", optimizer.M);
        ReadFlat(trainer, "optimizer.v", optimizer.V);
        optimizer.StepCount = step;
        var parts = trainer.Metadata.TryGetValue("sampler_state", out var text) ? text.Split(',') : [];
        var numbers = new ulong[4];
        if (parts.Length != 4 || !parts.Select((p, i) => ulong.TryParse(p, NumberStyles.None, CultureInfo.InvariantCulture, out numbers[i])).All(ok => ok))
            throw new InvalidDataException($"{trainer.Path}: sampler_state must be 4 non-negative integers.");
        sampler.State = new Sampling.RngState(numbers[0], numbers[1], numbers[2], numbers[3]);
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

    private static void AddFlat(SafeTensorsWriter writer, string name, NativeBuffer<float> buffer)
    {
        writer.Add(name, SafeTensorsDType.F32, [buffer.Length], stream =>
        {
            const int chunk = 1 << 20;
            for (long start = 0; start < buffer.Length; start += chunk)
            {
                int n = (int)Math.Min(chunk, buffer.Length - start);
                stream.Write(System.Runtime.InteropServices.MemoryMarshal.AsBytes(buffer.Slice(start, n)));
            }
        });
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
