using System;
using System.Collections.Generic;
using Microsoft.CodeAnalysis;
using Qwen3Gen.Generator.Diagnostics;
using Qwen3Gen.Generator.Model;
using Qwen3Gen.Rules;

namespace Qwen3Gen.Generator.Parsing;

/// <summary>
/// The RoPE scaling of a definition: checked and resolved by <see cref="RopeRules.Check"/> (shared with the runtime, which
/// reads a snapshot's config.json with the same rules), its problems reported as diagnostics located on the field
/// (inline) or on the Config argument.
/// </summary>
internal static class RopeValidator
{
    public static RopeSpec? Validate(ShapeDraft d, Action<DiagnosticDescriptor, Location?, object[]> report, Location? whole)
    {
        var problems = new List<ShapeProblem>();
        var resolved = RopeRules.Check(d.Rope, d.Values.MaxPositions, d.FromConfig, d.NameOf, problems);
        foreach (var problem in problems)
            report(Descriptors.ById(problem.Id), problem.Field is string field && !d.FromConfig ? d.LocationOf(field) : whole, problem.Args);
        return resolved is null ? null
            : new RopeSpec(resolved.Type, resolved.Factor, resolved.OriginalMaxPositions, resolved.BetaFast, resolved.BetaSlow,
                           resolved.AttentionFactor, resolved.Truncate);
    }
}
