using System;
using System.Collections.Generic;
using Microsoft.CodeAnalysis;
using Qwen3Gen.Rules;

namespace Qwen3Gen.Generator.Parsing;

/// <summary>
/// The hyper-parameters as read from one source (inline attribute values or a config.json), with the table's defaults
/// applied (<see cref="HyperParameters"/>) but nothing checked yet. <see cref="ShapeValidator"/> turns it into a
/// <see cref="Model.ModelShape"/>. Lives only inside one parse, so it may hold Roslyn locations.
/// </summary>
internal sealed class ShapeDraft
{
    /// <summary>Every field of the table other than RoPE scaling (the same type the runtime reads config.json into).</summary>
    public ShapeValues Values = new();

    public RopeDraft Rope = RopeDraft.Default;    // rope_scaling / rope_parameters as given, defaults not applied

    /// <summary>True when read from config.json: messages then use its keys, and QG0021 does not apply.</summary>
    public bool FromConfig;

    /// <summary>Properties written explicitly (inline), for QG0021.</summary>
    public readonly HashSet<string> Given = new(StringComparer.Ordinal);

    /// <summary>Where a field's diagnostic goes: its named argument, else the attribute (or the Config argument).</summary>
    public Func<string, Location?> LocationOf = static _ => null;

    /// <summary>A field's name as the user wrote it (in a config.json: its key, RoPE keys inside the object the config used).</summary>
    public string NameOf(string property) => FromConfig ? RopeRules.ConfigName(property, Rope.Object) : property;
}
