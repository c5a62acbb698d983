//! Converting datastore values to python objects and back.

use bb_data::Value;
use indexmap::IndexMap;
use rustpython_vm::builtins::{PyDict, PyList, PyListRef, PySet, PyStr, PyTuple};
use rustpython_vm::{AsObject, PyObjectRef, PyResult, VirtualMachine};

/// A datastore value as a python object (lists as lists, maps as dicts).
pub(crate) fn to_python(vm: &VirtualMachine, value: &Value) -> PyObjectRef {
    match value {
        Value::None => vm.ctx.none(),
        Value::Str(s) => vm.ctx.new_str(s.as_str()).into(),
        Value::Int(i) => vm.ctx.new_int(*i).into(),
        Value::Bool(b) => vm.ctx.new_bool(*b).into(),
        Value::List(items) => {
            let items: Vec<PyObjectRef> = items.iter().map(|v| to_python(vm, v)).collect();
            vm.ctx.new_list(items).into()
        }
        Value::Map(map) => {
            let dict = vm.ctx.new_dict();
            for (key, value) in map {
                // Keys are strings; setting one cannot fail.
                let _ = dict.set_item(key.as_str(), to_python(vm, value), vm);
            }
            dict.into()
        }
        Value::Datastore(frozen) => {
            super::wrap(vm, &bb_data::DataStore::from_frozen(frozen.clone()))
        }
    }
}

/// Strings as a python list of str.
pub(crate) fn str_list(
    vm: &VirtualMachine,
    items: impl IntoIterator<Item = impl AsRef<str>>,
) -> PyListRef {
    let items: Vec<PyObjectRef> = items
        .into_iter()
        .map(|s| vm.ctx.new_str(s.as_ref()).into())
        .collect();
    vm.ctx.new_list(items)
}

/// A python object as a datastore value. Lists, tuples and sets become lists, dicts with
/// string keys become maps; any other object is stored as its `str()`.
pub(crate) fn from_python(vm: &VirtualMachine, object: &PyObjectRef) -> PyResult<Value> {
    if vm.is_none(object) {
        return Ok(Value::None);
    }
    if let Some(s) = object.downcast_ref::<PyStr>() {
        return Ok(Value::Str(s.to_string_lossy().into_owned()));
    }
    if object.class().is(vm.ctx.types.bool_type) {
        return Ok(Value::Bool(object.clone().try_to_bool(vm)?));
    }
    if object.class().is(vm.ctx.types.int_type)
        && let Ok(i) = object.clone().try_into_value::<i64>(vm)
    {
        return Ok(Value::Int(i));
    }
    if let Some(list) = object.downcast_ref::<PyList>() {
        let items = list.borrow_vec().to_vec();
        return items
            .iter()
            .map(|o| from_python(vm, o))
            .collect::<PyResult<_>>()
            .map(Value::List);
    }
    if let Some(tuple) = object.downcast_ref::<PyTuple>() {
        return tuple
            .iter()
            .map(|o| from_python(vm, o))
            .collect::<PyResult<_>>()
            .map(Value::List);
    }
    if object.downcast_ref::<PySet>().is_some() {
        let sorted = vm
            .builtins
            .get_attr("sorted", vm)?
            .call((object.clone(),), vm)?;
        return from_python(vm, &sorted);
    }
    if let Ok(store) = super::_hz::DataSmart::store_of(object, vm) {
        return Ok(Value::Datastore(store.freeze()));
    }
    if let Some(dict) = object.downcast_ref::<PyDict>() {
        let mut map = IndexMap::new();
        for (key, value) in dict {
            let key = key.str(vm)?.to_string_lossy().into_owned();
            map.insert(key, from_python(vm, &value)?);
        }
        return Ok(Value::Map(map));
    }
    Ok(Value::Str(object.str(vm)?.to_string_lossy().into_owned()))
}
